//! `spin:redis/redis@3.0.0`: the same operations as `fermyon:spin/redis` through async
//! functions. Each call takes a handle of the connection out of the instance's table and does
//! its I/O without holding the instance's state.

use wasmtime::component::{Accessor, Linker, Resource};

use super::{Argument, Connection, Redis, RedisView, redis_result, view};
use crate::InstanceState;
use crate::host::bindings::fermyon::spin::redis::Error as V2Error;
use crate::host::bindings::spin::redis::redis::{self as v3, Error, RedisParameter, RedisResult};

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    v3::add_to_linker::<_, Redis>(linker, view)
}

fn error(e: V2Error) -> Error {
    match e {
        V2Error::InvalidAddress => Error::InvalidAddress,
        V2Error::TooManyConnections => Error::TooManyConnections,
        V2Error::TypeError => Error::TypeError,
        V2Error::Other(e) => Error::Other(e),
    }
}

/// Runs `cmd` on the guest's connection `c`.
async fn query<U, T: ::redis::FromRedisValue>(
    store: &Accessor<U, Redis>,
    c: &Resource<Connection>,
    cmd: &::redis::Cmd,
) -> Result<T, Error> {
    let conn = store.with(|mut access| access.get().connection(c).map_err(error))?;
    super::run(conn, cmd).await.map_err(error)
}

impl v3::Host for RedisView<'_> {}

impl v3::HostConnection for RedisView<'_> {
    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl<U> v3::HostConnectionWithStore<U> for Redis {
    async fn open(
        store: &Accessor<U, Self>,
        address: String,
    ) -> Result<Resource<Connection>, Error> {
        let policy = store.with(|mut access| access.get().policy.clone());
        let connection = super::connect(&policy, &address).await.map_err(error)?;
        store.with(|mut access| access.get().push(connection).map_err(error))
    }

    async fn publish(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        query(store, &c, ::redis::cmd("PUBLISH").arg(channel).arg(payload)).await
    }

    async fn get(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        query(store, &c, ::redis::cmd("GET").arg(key)).await
    }

    async fn set(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        query(store, &c, ::redis::cmd("SET").arg(key).arg(value)).await
    }

    async fn incr(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        key: String,
    ) -> Result<i64, Error> {
        query(store, &c, ::redis::cmd("INCR").arg(key)).await
    }

    async fn del(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        keys: Vec<String>,
    ) -> Result<u32, Error> {
        query(store, &c, ::redis::cmd("DEL").arg(keys)).await
    }

    async fn sadd(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        query(store, &c, ::redis::cmd("SADD").arg(key).arg(values)).await
    }

    async fn smembers(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        key: String,
    ) -> Result<Vec<String>, Error> {
        query(store, &c, ::redis::cmd("SMEMBERS").arg(key)).await
    }

    async fn srem(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        query(store, &c, ::redis::cmd("SREM").arg(key).arg(values)).await
    }

    async fn execute(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        let cmd = super::execute_cmd(
            &command,
            arguments.into_iter().map(|argument| match argument {
                RedisParameter::Int64(i) => Argument::Int64(i),
                RedisParameter::Binary(b) => Argument::Binary(b),
            }),
        );
        let value: ::redis::Value = query(store, &c, &cmd).await?;
        Ok(super::values(value)
            .into_iter()
            .map(|v| redis_result!(v, RedisResult))
            .collect())
    }
}
