//! `fermyon:spin/redis` and `spin:redis/redis@3.0.0` (its async successor, spin-sdk 7, see
//! [`v3`]): outbound Redis, to addresses `allowed_outbound_hosts` permits (`redis://host:port`);
//! any other address is `invalid-address`, as in Spin.

mod v3;

use std::sync::Arc;

use ::redis::aio::MultiplexedConnection;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::fermyon::spin::redis::{self, Error, RedisParameter, RedisResult};
use spinrt_telemetry::traces::{self, TraceContext};

use super::outbound::OutboundPolicy;
use crate::InstanceState;

/// An open connection, as the guest holds it.
pub struct Connection(MultiplexedConnection);

/// The outbound policy and the resource table, as every Redis interface sees them.
pub(crate) fn view(s: &mut InstanceState) -> RedisView<'_> {
    let (host, table) = s.host_and_table();
    RedisView {
        policy: &host.outbound,
        trace: host.http.trace.as_ref(),
        table,
    }
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    redis::add_to_linker::<_, Redis>(linker, view)?;
    v3::add_to_linker(linker)
}

pub(crate) struct Redis;

impl HasData for Redis {
    type Data<'a> = RedisView<'a>;
}

pub(crate) struct RedisView<'a> {
    policy: &'a Arc<OutboundPolicy>,
    trace: Option<&'a TraceContext>,
    table: &'a mut ResourceTable,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

/// Connects to `address` if the component may reach it.
async fn connect(policy: &OutboundPolicy, address: &str) -> Result<Connection, Error> {
    if !policy.allows_url(address) {
        log::warn!("redis: {address} is not in allowed_outbound_hosts");
        return Err(Error::InvalidAddress);
    }
    let client = ::redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(other)?;
    Ok(Connection(conn))
}

/// A handle of the guest's shared, multiplexed connection, and the trace its commands are
/// spans of (when tracing is on).
struct Handle {
    conn: MultiplexedConnection,
    trace: Option<TraceContext>,
}

/// Runs `cmd` on the connection.
async fn run<T: ::redis::FromRedisValue>(handle: Handle, cmd: &::redis::Cmd) -> Result<T, Error> {
    let Handle { mut conn, trace } = handle;
    let name = match cmd.args_iter().next() {
        Some(::redis::Arg::Simple(name)) if trace.is_some() => {
            String::from_utf8_lossy(name).to_uppercase()
        }
        _ => String::new(),
    };
    let result = traces::traced(
        trace.as_ref(),
        "redis",
        &name,
        None,
        cmd.query_async(&mut conn),
    );
    result.await.map_err(|e| {
        if e.kind() == ::redis::ErrorKind::UnexpectedReturnType {
            Error::TypeError
        } else {
            other(e)
        }
    })
}

/// An argument of `execute`, as both versions' `redis-parameter` has it.
enum Argument {
    Int64(i64),
    Binary(Vec<u8>),
}

/// `execute`'s command: `name` with its arguments.
fn execute_cmd(name: &str, arguments: impl IntoIterator<Item = Argument>) -> ::redis::Cmd {
    let mut cmd = ::redis::cmd(name);
    for argument in arguments {
        match argument {
            Argument::Int64(i) => cmd.arg(i),
            Argument::Binary(b) => cmd.arg(b),
        };
    }
    cmd
}

/// `execute`'s answer: the values of an array or set, else the one value.
fn values(value: ::redis::Value) -> Vec<::redis::Value> {
    match value {
        ::redis::Value::Array(values) | ::redis::Value::Set(values) => values,
        value => vec![value],
    }
}

impl RedisView<'_> {
    fn connection(&self, c: &Resource<Connection>) -> Result<Handle, Error> {
        let conn = self.table.get(c).map(|c| c.0.clone()).map_err(other)?;
        Ok(Handle {
            conn,
            trace: self.trace.cloned(),
        })
    }

    fn push(&mut self, connection: Connection) -> Result<Resource<Connection>, Error> {
        self.table
            .push(connection)
            .map_err(|_| Error::TooManyConnections)
    }

    async fn query<T: ::redis::FromRedisValue>(
        &mut self,
        connection: &Resource<Connection>,
        cmd: &::redis::Cmd,
    ) -> Result<T, Error> {
        run(self.connection(connection)?, cmd).await
    }
}

impl redis::Host for RedisView<'_> {}

impl redis::HostConnection for RedisView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<Connection>, Error> {
        let connection = connect(self.policy, &address).await?;
        self.push(connection)
    }

    async fn publish(
        &mut self,
        c: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        self.query(&c, ::redis::cmd("PUBLISH").arg(channel).arg(payload))
            .await
    }

    async fn get(
        &mut self,
        c: Resource<Connection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.query(&c, ::redis::cmd("GET").arg(key)).await
    }

    async fn set(
        &mut self,
        c: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        self.query(&c, ::redis::cmd("SET").arg(key).arg(value))
            .await
    }

    async fn incr(&mut self, c: Resource<Connection>, key: String) -> Result<i64, Error> {
        self.query(&c, ::redis::cmd("INCR").arg(key)).await
    }

    async fn del(&mut self, c: Resource<Connection>, keys: Vec<String>) -> Result<u32, Error> {
        self.query(&c, ::redis::cmd("DEL").arg(keys)).await
    }

    async fn sadd(
        &mut self,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        self.query(&c, ::redis::cmd("SADD").arg(key).arg(values))
            .await
    }

    async fn smembers(
        &mut self,
        c: Resource<Connection>,
        key: String,
    ) -> Result<Vec<String>, Error> {
        self.query(&c, ::redis::cmd("SMEMBERS").arg(key)).await
    }

    async fn srem(
        &mut self,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        self.query(&c, ::redis::cmd("SREM").arg(key).arg(values))
            .await
    }

    async fn execute(
        &mut self,
        c: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        let cmd = execute_cmd(
            &command,
            arguments.into_iter().map(|argument| match argument {
                RedisParameter::Int64(i) => Argument::Int64(i),
                RedisParameter::Binary(b) => Argument::Binary(b),
            }),
        );
        let value: ::redis::Value = self.query(&c, &cmd).await?;
        Ok(values(value).into_iter().map(result).collect())
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

/// One value of `execute`'s answer, as both versions' `redis-result` has it.
macro_rules! redis_result {
    ($value:expr, $result:ident) => {{
        use ::redis::Value as V;
        match $value {
            V::Nil => $result::Nil,
            V::Int(i) => $result::Int64(i),
            V::Okay => $result::Status("OK".into()),
            V::SimpleString(s) => $result::Status(s),
            V::BulkString(b) => $result::Binary(b),
            other => $result::Binary(format!("{other:?}").into_bytes()),
        }
    }};
}
use redis_result;

fn result(value: ::redis::Value) -> RedisResult {
    redis_result!(value, RedisResult)
}
