//! Spin 1's `fermyon:spin/redis`: every call names its server, so each opens a connection
//! through `@2.0.0` (the same `allowed_outbound_hosts` check), runs one command and closes it.
//! Spin 1's error says only that something failed; the reason is logged.

use wasmtime::component::Resource;

use super::bindings::fermyon::spin::redis;
use super::bindings::fermyon::spin::redis_types::{self, Error, RedisParameter, RedisResult};
use crate::host::bindings::fermyon::spin::redis::{self as current, HostConnection};
use crate::host::redis::{Connection, RedisView};

impl redis_types::Host for RedisView<'_> {}

impl RedisView<'_> {
    /// A connection to `address` for one command (the `@2.0.0` policy check included).
    async fn connect(&mut self, address: &str) -> Result<Resource<Connection>, Error> {
        HostConnection::open(self, address.to_string())
            .await
            .map_err(|e| failed(address, e))
    }

    /// Closes the connection and gives the command's outcome in Spin 1's terms.
    async fn finish<T>(
        &mut self,
        address: &str,
        connection: Resource<Connection>,
        outcome: Result<T, current::Error>,
    ) -> Result<T, Error> {
        let _ = HostConnection::drop(self, connection).await;
        outcome.map_err(|e| failed(address, e))
    }
}

fn borrow(connection: &Resource<Connection>) -> Resource<Connection> {
    Resource::new_borrow(connection.rep())
}

fn failed(address: &str, e: current::Error) -> Error {
    log::info!("redis {address}: {e:?}");
    Error::Error
}

impl redis::Host for RedisView<'_> {
    async fn publish(
        &mut self,
        address: String,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        let c = self.connect(&address).await?;
        let outcome = HostConnection::publish(self, borrow(&c), channel, payload).await;
        self.finish(&address, c, outcome).await
    }

    async fn get(&mut self, address: String, key: String) -> Result<Vec<u8>, Error> {
        let c = self.connect(&address).await?;
        let outcome = HostConnection::get(self, borrow(&c), key).await;
        Ok(self.finish(&address, c, outcome).await?.unwrap_or_default())
    }

    async fn set(&mut self, address: String, key: String, value: Vec<u8>) -> Result<(), Error> {
        let c = self.connect(&address).await?;
        let outcome = HostConnection::set(self, borrow(&c), key, value).await;
        self.finish(&address, c, outcome).await
    }

    async fn incr(&mut self, address: String, key: String) -> Result<i64, Error> {
        let c = self.connect(&address).await?;
        let outcome = HostConnection::incr(self, borrow(&c), key).await;
        self.finish(&address, c, outcome).await
    }

    async fn del(&mut self, address: String, keys: Vec<String>) -> Result<i64, Error> {
        let c = self.connect(&address).await?;
        let outcome = HostConnection::del(self, borrow(&c), keys).await;
        Ok(self.finish(&address, c, outcome).await?.into())
    }

    async fn sadd(
        &mut self,
        address: String,
        key: String,
        values: Vec<String>,
    ) -> Result<i64, Error> {
        let c = self.connect(&address).await?;
        let outcome = HostConnection::sadd(self, borrow(&c), key, values).await;
        Ok(self.finish(&address, c, outcome).await?.into())
    }

    async fn smembers(&mut self, address: String, key: String) -> Result<Vec<String>, Error> {
        let c = self.connect(&address).await?;
        let outcome = HostConnection::smembers(self, borrow(&c), key).await;
        self.finish(&address, c, outcome).await
    }

    async fn srem(
        &mut self,
        address: String,
        key: String,
        values: Vec<String>,
    ) -> Result<i64, Error> {
        let c = self.connect(&address).await?;
        let outcome = HostConnection::srem(self, borrow(&c), key, values).await;
        Ok(self.finish(&address, c, outcome).await?.into())
    }

    async fn execute(
        &mut self,
        address: String,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        let arguments = arguments
            .into_iter()
            .map(|a| match a {
                RedisParameter::Int64(i) => current::RedisParameter::Int64(i),
                RedisParameter::Binary(b) => current::RedisParameter::Binary(b),
            })
            .collect();
        let c = self.connect(&address).await?;
        let outcome = HostConnection::execute(self, borrow(&c), command, arguments).await;
        let results = self.finish(&address, c, outcome).await?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                current::RedisResult::Nil => RedisResult::Nil,
                current::RedisResult::Status(s) => RedisResult::Status(s),
                current::RedisResult::Int64(i) => RedisResult::Int64(i),
                current::RedisResult::Binary(b) => RedisResult::Binary(b),
            })
            .collect())
    }
}
