//! Spin 1's `fermyon:spin/postgres` and `fermyon:spin/mysql`: every call names its server, so
//! each opens a connection through `@2.0.0` (the same `allowed_outbound_hosts` check and value
//! mapping), runs one statement and closes it. Their values are `@2.0.0`'s `rdbms-types`.

use wasmtime::component::Resource;

use super::bindings::fermyon::spin::mysql::{self, MysqlError};
use super::bindings::fermyon::spin::postgres::{self, PgError};
use crate::host::bindings::fermyon::spin::mysql::HostConnection as MySqlConnection;
use crate::host::bindings::fermyon::spin::postgres::HostConnection as PgConnection;
use crate::host::bindings::fermyon::spin::rdbms_types::{Error, ParameterValue, RowSet};
use crate::host::mysql::MySqlView;
use crate::host::postgres::PostgresView;

fn borrow<T: 'static>(connection: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(connection.rep())
}

impl postgres::Host for PostgresView<'_> {
    async fn query(
        &mut self,
        address: String,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, PgError> {
        let c = PgConnection::open(self, address).await.map_err(pg)?;
        let outcome = PgConnection::query(self, borrow(&c), statement, params).await;
        let _ = PgConnection::drop(self, c).await;
        outcome.map_err(pg)
    }

    async fn execute(
        &mut self,
        address: String,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, PgError> {
        let c = PgConnection::open(self, address).await.map_err(pg)?;
        let outcome = PgConnection::execute(self, borrow(&c), statement, params).await;
        let _ = PgConnection::drop(self, c).await;
        outcome.map_err(pg)
    }
}

impl mysql::Host for MySqlView<'_> {
    async fn query(
        &mut self,
        address: String,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, MysqlError> {
        let c = MySqlConnection::open(self, address).await.map_err(my)?;
        let outcome = MySqlConnection::query(self, borrow(&c), statement, params).await;
        let _ = MySqlConnection::drop(self, c).await;
        outcome.map_err(my)
    }

    async fn execute(
        &mut self,
        address: String,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<(), MysqlError> {
        let c = MySqlConnection::open(self, address).await.map_err(my)?;
        let outcome = MySqlConnection::execute(self, borrow(&c), statement, params).await;
        let _ = MySqlConnection::drop(self, c).await;
        outcome.map_err(my)
    }
}

fn pg(e: Error) -> PgError {
    match e {
        Error::ConnectionFailed(m) => PgError::ConnectionFailed(m),
        Error::BadParameter(m) => PgError::BadParameter(m),
        Error::QueryFailed(m) => PgError::QueryFailed(m),
        Error::ValueConversionFailed(m) => PgError::ValueConversionFailed(m),
        Error::Other(m) => PgError::OtherError(m),
    }
}

fn my(e: Error) -> MysqlError {
    match e {
        Error::ConnectionFailed(m) => MysqlError::ConnectionFailed(m),
        Error::BadParameter(m) => MysqlError::BadParameter(m),
        Error::QueryFailed(m) => MysqlError::QueryFailed(m),
        Error::ValueConversionFailed(m) => MysqlError::ValueConversionFailed(m),
        Error::Other(m) => MysqlError::OtherError(m),
    }
}
