//! `spin:postgres/postgres@4.0.0` (and @3.0.0 and Spin 2's, see [`v3`], [`v2`]): outbound PostgreSQL (`tokio-postgres`), to servers
//! `allowed_outbound_hosts` permits (`postgres://host:port`). Values cross as in Spin: every
//! type of the interface both ways (ranges, arrays, intervals, decimals included); a column of
//! another type comes back as `unsupported` with its raw bytes.

// The error type is the interface's own (a WIT variant carrying a database error record).
#![allow(clippy::result_large_err)]

mod v2;
mod v3;
mod values;

use tokio_postgres::NoTls;
use tokio_postgres::config::Host;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::spin::postgres4_0_0::postgres::{
    self, Column, DbError, Error, ParameterValue, QueryError, RowSet,
};
use super::outbound::OutboundPolicy;
use crate::InstanceState;

/// An open connection, as the guest holds it.
pub struct Connection(tokio_postgres::Client);

/// Adds @4.0.0, and @3.0.0 and `fermyon:spin/postgres@2.0.0`, which @4 serves.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    postgres::add_to_linker::<_, Postgres>(linker, view)?;
    v3::add_to_linker(linker)?;
    v2::add_to_linker(linker)
}

/// An @4 row set in an older version's column and value types (for [`v2`] and [`v3`]).
fn older_rows<C, V>(
    rows: RowSet,
    column: impl Fn(String, postgres::DbDataType) -> C,
    value: impl Fn(postgres::DbValue) -> V,
) -> (Vec<C>, Vec<Vec<V>>) {
    let columns = rows
        .columns
        .into_iter()
        .map(|c| column(c.name, c.data_type))
        .collect();
    let rows = rows
        .rows
        .into_iter()
        .map(|row| row.into_iter().map(&value).collect())
        .collect();
    (columns, rows)
}

pub(crate) fn view(s: &mut InstanceState) -> PostgresView<'_> {
    let (host, table) = s.host_and_table();
    PostgresView {
        policy: &host.outbound,
        table,
    }
}

pub(crate) struct Postgres;

impl HasData for Postgres {
    type Data<'a> = PostgresView<'a>;
}

pub struct PostgresView<'a> {
    policy: &'a OutboundPolicy,
    table: &'a mut ResourceTable,
}

impl PostgresView<'_> {
    fn client(&self, c: &Resource<Connection>) -> Result<&tokio_postgres::Client, Error> {
        self.table
            .get(c)
            .map(|c| &c.0)
            .map_err(|e| Error::Other(e.to_string()))
    }
}

/// tokio-postgres says only "db error" at the top; the server's reason is its source.
fn with_cause(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn query_failed(e: tokio_postgres::Error) -> Error {
    Error::QueryFailed(match e.as_db_error() {
        Some(db) => QueryError::DbError(DbError {
            as_text: e.to_string(),
            severity: db.severity().to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            extras: db
                .hint()
                .map(|h| vec![("hint".to_string(), h.to_string())])
                .unwrap_or_default(),
        }),
        None => QueryError::Text(e.to_string()),
    })
}

impl postgres::Host for PostgresView<'_> {}

impl postgres::HostConnection for PostgresView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<Connection>, Error> {
        let config: tokio_postgres::Config = address
            .parse()
            .map_err(|e| Error::ConnectionFailed(format!("invalid connection string: {e}")))?;
        let ports = config.get_ports();
        for (i, host) in config.get_hosts().iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let name = match host {
                Host::Tcp(name) => name.as_str(),
                Host::Unix(_) => {
                    return Err(Error::ConnectionFailed(
                        "Unix socket addresses are not supported".into(),
                    ));
                }
            };
            if !self.policy.allows("postgres", name, Some(port)) {
                return Err(Error::ConnectionFailed(format!(
                    "address postgres://{name}:{port} is not permitted"
                )));
            }
        }
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| Error::ConnectionFailed(with_cause(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                log::warn!("postgres connection: {e}");
            }
        });
        self.table
            .push(Connection(client))
            .map_err(|e| Error::Other(e.to_string()))
    }

    async fn query(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let client = self.client(&c)?;
        let params = values::parameters(params)?;
        let statement = client.prepare(&statement).await.map_err(query_failed)?;
        let rows = client
            .query(&statement, &values::refs(&params))
            .await
            .map_err(query_failed)?;
        let columns = statement
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_string(),
                data_type: values::data_type(c.type_()),
            })
            .collect();
        let rows = rows.iter().map(values::row).collect::<Result<_, _>>()?;
        Ok(RowSet { columns, rows })
    }

    async fn execute(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        let client = self.client(&c)?;
        let params = values::parameters(params)?;
        client
            .execute(statement.as_str(), &values::refs(&params))
            .await
            .map_err(query_failed)
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}
