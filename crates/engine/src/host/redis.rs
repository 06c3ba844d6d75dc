//! `fermyon:spin/redis`: outbound Redis, to addresses `allowed_outbound_hosts` permits
//! (`redis://host:port`); any other address is `invalid-address`, as in Spin.

use ::redis::aio::MultiplexedConnection;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::fermyon::spin::redis::{self, Error, RedisParameter, RedisResult};
use super::outbound::OutboundPolicy;
use crate::InstanceState;

/// An open connection, as the guest holds it.
pub struct Connection(MultiplexedConnection);

/// The outbound policy and the resource table, as every Redis interface sees them.
pub(crate) fn view(s: &mut InstanceState) -> RedisView<'_> {
    let (host, table) = s.host_and_table();
    RedisView {
        policy: &host.outbound,
        table,
    }
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    redis::add_to_linker::<_, Redis>(linker, view)
}

pub(crate) struct Redis;

impl HasData for Redis {
    type Data<'a> = RedisView<'a>;
}

pub(crate) struct RedisView<'a> {
    policy: &'a OutboundPolicy,
    table: &'a mut ResourceTable,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

impl RedisView<'_> {
    async fn query<T: ::redis::FromRedisValue>(
        &mut self,
        connection: &Resource<Connection>,
        cmd: &::redis::Cmd,
    ) -> Result<T, Error> {
        let conn = &mut self.table.get_mut(connection).map_err(other)?.0;
        cmd.query_async(conn).await.map_err(|e| {
            if e.kind() == ::redis::ErrorKind::UnexpectedReturnType {
                Error::TypeError
            } else {
                other(e)
            }
        })
    }
}

impl redis::Host for RedisView<'_> {}

impl redis::HostConnection for RedisView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<Connection>, Error> {
        if !self.policy.allows_url(&address) {
            log::warn!("redis: {address} is not in allowed_outbound_hosts");
            return Err(Error::InvalidAddress);
        }
        let client = ::redis::Client::open(address.as_str()).map_err(|_| Error::InvalidAddress)?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(other)?;
        self.table
            .push(Connection(conn))
            .map_err(|_| Error::TooManyConnections)
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
        let mut cmd = ::redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let value: ::redis::Value = self.query(&c, &cmd).await?;
        Ok(match value {
            ::redis::Value::Array(values) | ::redis::Value::Set(values) => {
                values.into_iter().map(result).collect()
            }
            value => vec![result(value)],
        })
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

fn result(value: ::redis::Value) -> RedisResult {
    use ::redis::Value as V;
    match value {
        V::Nil => RedisResult::Nil,
        V::Int(i) => RedisResult::Int64(i),
        V::Okay => RedisResult::Status("OK".into()),
        V::SimpleString(s) => RedisResult::Status(s),
        V::BulkString(b) => RedisResult::Binary(b),
        other => RedisResult::Binary(format!("{other:?}").into_bytes()),
    }
}
