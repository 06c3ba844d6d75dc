//! Spin 1's `fermyon:spin/sqlite`: the same granted databases as `@2.0.0`, with connections
//! named by number (their handle in the instance's table, which checks its type on use).

use wasmtime::component::Resource;

use super::bindings::fermyon::spin::sqlite::{
    self, Connection, Error, QueryResult, RowResult, Value,
};
use crate::host::bindings::fermyon::spin::sqlite as current;
use crate::host::sqlite::SqliteView;

impl sqlite::Host for SqliteView<'_> {
    async fn open(&mut self, database: String) -> Result<Connection, Error> {
        let connection = current::HostConnection::open(self, database)
            .await
            .map_err(legacy)?;
        Ok(connection.rep())
    }

    async fn execute(
        &mut self,
        conn: Connection,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let parameters = parameters.into_iter().map(to_current).collect();
        let result = current::HostConnection::execute(
            self,
            Resource::new_borrow(conn),
            statement,
            parameters,
        )
        .await
        .map_err(legacy)?;
        Ok(QueryResult {
            columns: result.columns,
            rows: result
                .rows
                .into_iter()
                .map(|row| RowResult {
                    values: row.values.into_iter().map(from_current).collect(),
                })
                .collect(),
        })
    }

    async fn close(&mut self, conn: Connection) {
        // Closing what is not an open connection does nothing, as in Spin 1.
        let _ = current::HostConnection::drop(self, Resource::new_own(conn)).await;
    }
}

fn to_current(value: Value) -> current::Value {
    match value {
        Value::Integer(i) => current::Value::Integer(i),
        Value::Real(r) => current::Value::Real(r),
        Value::Text(t) => current::Value::Text(t),
        Value::Blob(b) => current::Value::Blob(b),
        Value::Null => current::Value::Null,
    }
}

fn from_current(value: current::Value) -> Value {
    match value {
        current::Value::Integer(i) => Value::Integer(i),
        current::Value::Real(r) => Value::Real(r),
        current::Value::Text(t) => Value::Text(t),
        current::Value::Blob(b) => Value::Blob(b),
        current::Value::Null => Value::Null,
    }
}

fn legacy(e: current::Error) -> Error {
    match e {
        current::Error::NoSuchDatabase => Error::NoSuchDatabase,
        current::Error::AccessDenied => Error::AccessDenied,
        current::Error::InvalidConnection => Error::InvalidConnection,
        current::Error::DatabaseFull => Error::DatabaseFull,
        current::Error::Io(m) => Error::Io(m),
    }
}
