//! `fermyon:spin/mysql@2.0.0` and `spin:mysql/mysql@3.0.0` (its async successor, spin-sdk 7,
//! see [`v3`]): outbound MySQL/MariaDB (`mysql_async`), to servers
//! `allowed_outbound_hosts` permits (`mysql://host:port`). Statements run as prepared
//! statements with positional `?` parameters; column types map to the interface's
//! `db-data-type` as in Spin (signedness from the column flags, binary vs text from the
//! character set), anything else is `other` with `unsupported` values.

mod v3;

use std::sync::Arc;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column as MyColumn, Conn, Opts, Params, Value};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::fermyon::spin::mysql;
use super::bindings::fermyon::spin::rdbms_types::{
    self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use spinrt_telemetry::traces::{self, TraceContext};

use super::outbound::OutboundPolicy;
use crate::InstanceState;

/// MySQL's character set number for binary data (BINARY, VARBINARY, BLOB).
const BINARY_CHARSET: u16 = 63;

/// An open connection, as the guest holds it; shared so an async call can use it while the
/// guest's resource table is free for other calls.
pub struct Connection(Arc<tokio::sync::Mutex<Conn>>);

pub(crate) fn view(s: &mut InstanceState) -> MySqlView<'_> {
    let (host, table) = s.host_and_table();
    MySqlView {
        policy: &host.outbound,
        trace: host.http.trace.as_ref(),
        table,
    }
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    mysql::add_to_linker::<_, MySql>(linker, view)?;
    rdbms_types::add_to_linker::<_, MySql>(linker, view)?;
    v3::add_to_linker(linker)
}

pub(crate) struct MySql;

impl HasData for MySql {
    type Data<'a> = MySqlView<'a>;
}

pub struct MySqlView<'a> {
    policy: &'a Arc<OutboundPolicy>,
    trace: Option<&'a TraceContext>,
    table: &'a mut ResourceTable,
}

impl MySqlView<'_> {
    /// The guest's connection, and the trace its statements are spans of.
    fn conn(&self, c: &Resource<Connection>) -> Result<Handle, Error> {
        let conn = self
            .table
            .get(c)
            .map(|c| c.0.clone())
            .map_err(|e| Error::Other(e.to_string()))?;
        Ok(Handle {
            conn,
            trace: self.trace.cloned(),
        })
    }

    fn push(&mut self, connection: Connection) -> Result<Resource<Connection>, Error> {
        self.table
            .push(connection)
            .map_err(|e| Error::Other(e.to_string()))
    }
}

/// Connects to `address` if the component may reach it.
async fn connect(policy: &OutboundPolicy, address: &str) -> Result<Connection, Error> {
    let opts = Opts::from_url(address)
        .map_err(|e| Error::ConnectionFailed(format!("invalid address: {e}")))?;
    let (host, port) = (opts.ip_or_hostname().to_string(), opts.tcp_port());
    if !policy.allows("mysql", &host, Some(port)) {
        return Err(Error::ConnectionFailed(format!(
            "address mysql://{host}:{port} is not permitted"
        )));
    }
    let conn = Conn::new(opts)
        .await
        .map_err(|e| Error::ConnectionFailed(e.to_string()))?;
    Ok(Connection(Arc::new(tokio::sync::Mutex::new(conn))))
}

/// A connection of the guest's, and the trace its statements are spans of.
struct Handle {
    conn: Arc<tokio::sync::Mutex<Conn>>,
    trace: Option<TraceContext>,
}

async fn query(
    handle: &Handle,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<RowSet, Error> {
    let call = query_untraced(&handle.conn, statement, params);
    traces::traced(handle.trace.as_ref(), "mysql", "query", None, call).await
}

async fn execute(
    handle: &Handle,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<(), Error> {
    let call = execute_untraced(&handle.conn, statement, params);
    traces::traced(handle.trace.as_ref(), "mysql", "execute", None, call).await
}

async fn query_untraced(
    conn: &tokio::sync::Mutex<Conn>,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<RowSet, Error> {
    let mut conn = conn.lock().await;
    let mut result = conn
        .exec_iter(statement, parameters(params))
        .await
        .map_err(|e| Error::QueryFailed(e.to_string()))?;
    let my_columns = result.columns().unwrap_or_else(|| Vec::new().into());
    let rows: Vec<mysql_async::Row> = result
        .collect()
        .await
        .map_err(|e| Error::QueryFailed(e.to_string()))?;
    let columns = my_columns
        .iter()
        .map(|c| Column {
            name: c.name_str().into_owned(),
            data_type: data_type(c),
        })
        .collect::<Vec<_>>();
    let rows = rows
        .into_iter()
        .map(|row| {
            row.unwrap()
                .into_iter()
                .zip(&columns)
                .map(|(value, column)| db_value(value, column))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    Ok(RowSet { columns, rows })
}

async fn execute_untraced(
    conn: &tokio::sync::Mutex<Conn>,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<(), Error> {
    conn.lock()
        .await
        .exec_drop(statement, parameters(params))
        .await
        .map_err(|e| Error::QueryFailed(e.to_string()))
}

impl rdbms_types::Host for MySqlView<'_> {}
impl mysql::Host for MySqlView<'_> {}

impl mysql::HostConnection for MySqlView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<Connection>, Error> {
        let connection = connect(self.policy, &address).await?;
        self.push(connection)
    }

    async fn query(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let conn = self.conn(&c)?;
        query(&conn, statement, params).await
    }

    async fn execute(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<(), Error> {
        let conn = self.conn(&c)?;
        execute(&conn, statement, params).await
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        // mysql_async closes a dropped connection in the background.
        self.table.delete(c)?;
        Ok(())
    }
}

fn parameters(params: Vec<ParameterValue>) -> Params {
    if params.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        params
            .into_iter()
            .map(|p| match p {
                ParameterValue::Boolean(v) => Value::from(v),
                ParameterValue::Int8(v) => Value::Int(v.into()),
                ParameterValue::Int16(v) => Value::Int(v.into()),
                ParameterValue::Int32(v) => Value::Int(v.into()),
                ParameterValue::Int64(v) => Value::Int(v),
                ParameterValue::Uint8(v) => Value::UInt(v.into()),
                ParameterValue::Uint16(v) => Value::UInt(v.into()),
                ParameterValue::Uint32(v) => Value::UInt(v.into()),
                ParameterValue::Uint64(v) => Value::UInt(v),
                ParameterValue::Floating32(v) => Value::Float(v),
                ParameterValue::Floating64(v) => Value::Double(v),
                ParameterValue::Str(v) => Value::Bytes(v.into_bytes()),
                ParameterValue::Binary(v) => Value::Bytes(v),
                ParameterValue::DbNull => Value::NULL,
            })
            .collect(),
    )
}

fn data_type(column: &MyColumn) -> DbDataType {
    use ColumnType::*;
    let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = column.character_set() == BINARY_CHARSET;
    match (column.column_type(), unsigned) {
        (MYSQL_TYPE_DOUBLE, _) => DbDataType::Floating64,
        (MYSQL_TYPE_FLOAT, _) => DbDataType::Floating32,
        (MYSQL_TYPE_TINY, false) => DbDataType::Int8,
        (MYSQL_TYPE_TINY, true) => DbDataType::Uint8,
        (MYSQL_TYPE_SHORT, false) => DbDataType::Int16,
        (MYSQL_TYPE_SHORT, true) => DbDataType::Uint16,
        (MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG, false) => DbDataType::Int32,
        (MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG, true) => DbDataType::Uint32,
        (MYSQL_TYPE_LONGLONG, false) => DbDataType::Int64,
        (MYSQL_TYPE_LONGLONG, true) => DbDataType::Uint64,
        (
            MYSQL_TYPE_STRING
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB,
            _,
        ) if binary => DbDataType::Binary,
        (
            MYSQL_TYPE_STRING
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB,
            _,
        ) => DbDataType::Str,
        _ => DbDataType::Other,
    }
}

fn db_value(value: Value, column: &Column) -> Result<DbValue, Error> {
    if value == Value::NULL {
        return Ok(DbValue::DbNull);
    }
    fn get<T: mysql_async::prelude::FromValue>(value: Value, column: &Column) -> Result<T, Error> {
        mysql_async::from_value_opt(value)
            .map_err(|e| Error::ValueConversionFailed(format!("column {}: {e}", column.name)))
    }
    Ok(match column.data_type {
        DbDataType::Boolean => DbValue::Boolean(get(value, column)?),
        DbDataType::Int8 => DbValue::Int8(get(value, column)?),
        DbDataType::Int16 => DbValue::Int16(get(value, column)?),
        DbDataType::Int32 => DbValue::Int32(get(value, column)?),
        DbDataType::Int64 => DbValue::Int64(get(value, column)?),
        DbDataType::Uint8 => DbValue::Uint8(get(value, column)?),
        DbDataType::Uint16 => DbValue::Uint16(get(value, column)?),
        DbDataType::Uint32 => DbValue::Uint32(get(value, column)?),
        DbDataType::Uint64 => DbValue::Uint64(get(value, column)?),
        DbDataType::Floating32 => DbValue::Floating32(get(value, column)?),
        DbDataType::Floating64 => DbValue::Floating64(get(value, column)?),
        DbDataType::Str => DbValue::Str(get(value, column)?),
        DbDataType::Binary => DbValue::Binary(get(value, column)?),
        DbDataType::Other => DbValue::Unsupported,
    })
}
