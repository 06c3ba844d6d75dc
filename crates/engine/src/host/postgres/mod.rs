//! `spin:postgres/postgres@4.2.0` (and @3.0.0 and Spin 2's, see [`v3`], [`v2`]): outbound
//! PostgreSQL (`tokio-postgres`), to servers `allowed_outbound_hosts` permits
//! (`postgres://host:port`). Values cross as in Spin: every type of the interface both ways
//! (ranges, arrays, intervals, decimals included); a column of another type comes back as
//! `unsupported` with its raw bytes. 4.2's async variants (spin-sdk 7) run the same code and
//! hand rows over as a stream. Connections are made without TLS: a connection builder given a
//! CA root refuses to build, saying so.

// The error type is the interface's own (a WIT variant carrying a database error record).
#![allow(clippy::result_large_err)]

mod v2;
mod v3;
mod values;

use std::sync::Arc;

use tokio_postgres::NoTls;
use tokio_postgres::config::Host;
use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

use super::bindings::spin::postgres4_2_0::postgres::{
    self, Column, DbError, Error, ParameterValue, QueryError, Row, RowSet,
};
use spinrt_telemetry::traces::{self, TraceContext};

use super::outbound::OutboundPolicy;
use crate::InstanceState;

/// An open connection, as the guest holds it; shared so an async call can use it while the
/// guest's resource table is free for other calls.
pub struct Connection(Arc<tokio_postgres::Client>);

/// A connection being configured (4.1's `connection-builder`).
pub struct ConnectionBuilder {
    address: String,
    ca_root: Option<String>,
}

/// Adds @4.2.0, and @3.0.0 and `fermyon:spin/postgres@2.0.0`, which @4 serves.
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
        trace: host.http.trace.as_ref(),
        table,
    }
}

pub(crate) struct Postgres;

impl HasData for Postgres {
    type Data<'a> = PostgresView<'a>;
}

pub struct PostgresView<'a> {
    policy: &'a Arc<OutboundPolicy>,
    trace: Option<&'a TraceContext>,
    table: &'a mut ResourceTable,
}

impl PostgresView<'_> {
    /// The guest's connection, and the trace its statements are spans of.
    fn client(&self, c: &Resource<Connection>) -> Result<Client, Error> {
        let client = self
            .table
            .get(c)
            .map(|c| c.0.clone())
            .map_err(|e| Error::Other(e.to_string()))?;
        Ok(Client {
            client,
            trace: self.trace.cloned(),
        })
    }

    fn push(&mut self, connection: Connection) -> Result<Resource<Connection>, Error> {
        self.table
            .push(connection)
            .map_err(|e| Error::Other(e.to_string()))
    }

    /// The address a builder was given; refused when it asks for TLS with its own CA root.
    fn builder_address(&self, builder: &Resource<ConnectionBuilder>) -> Result<String, Error> {
        let builder = self
            .table
            .get(builder)
            .map_err(|e| Error::Other(e.to_string()))?;
        if builder.ca_root.is_some() {
            return Err(Error::ConnectionFailed(
                "a CA root was set, but this runtime connects to PostgreSQL without TLS".into(),
            ));
        }
        Ok(builder.address.clone())
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

/// Connects to `address` if the component may reach every host it names.
async fn connect(policy: &OutboundPolicy, address: &str) -> Result<Connection, Error> {
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
        if !policy.allows("postgres", name, Some(port)) {
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
    Ok(Connection(Arc::new(client)))
}

/// A connection of the guest's, and the trace its statements are spans of.
struct Client {
    client: Arc<tokio_postgres::Client>,
    trace: Option<TraceContext>,
}

async fn query(
    client: &Client,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<RowSet, Error> {
    let call = query_untraced(&client.client, statement, params);
    traces::traced(client.trace.as_ref(), "postgres", "query", None, call).await
}

async fn execute(
    client: &Client,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    let call = execute_untraced(&client.client, statement, params);
    traces::traced(client.trace.as_ref(), "postgres", "execute", None, call).await
}

async fn query_untraced(
    client: &tokio_postgres::Client,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<RowSet, Error> {
    let params = values::parameters(params)?;
    let statement = client.prepare(statement).await.map_err(query_failed)?;
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

async fn execute_untraced(
    client: &tokio_postgres::Client,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    let params = values::parameters(params)?;
    client
        .execute(statement, &values::refs(&params))
        .await
        .map_err(query_failed)
}

impl postgres::HostConnection for PostgresView<'_> {
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
        let client = self.client(&c)?;
        query(&client, &statement, params).await
    }

    async fn execute(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        let client = self.client(&c)?;
        execute(&client, &statement, params).await
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl postgres::HostConnectionBuilder for PostgresView<'_> {
    async fn new(&mut self, address: String) -> Resource<ConnectionBuilder> {
        // A constructor cannot fail in the interface; the table only refuses once the
        // instance's memory limit would have stopped the guest long before.
        self.table
            .push(ConnectionBuilder {
                address,
                ca_root: None,
            })
            .expect("the resource table has room for a connection builder")
    }

    async fn set_ca_root(
        &mut self,
        builder: Resource<ConnectionBuilder>,
        certificate: String,
    ) -> Result<(), Error> {
        let builder = self
            .table
            .get_mut(&builder)
            .map_err(|e| Error::Other(e.to_string()))?;
        builder.ca_root = Some(certificate);
        Ok(())
    }

    async fn build(
        &mut self,
        builder: Resource<ConnectionBuilder>,
    ) -> Result<Resource<Connection>, Error> {
        let address = self.builder_address(&builder)?;
        postgres::HostConnection::open(self, address).await
    }

    async fn drop(&mut self, builder: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

/// 4.2's async variants: the work runs between two short visits to the instance's state, so
/// other calls of the same guest proceed meanwhile.
impl<U> postgres::HostConnectionWithStore<U> for Postgres {
    async fn open_async(
        store: &Accessor<U, Self>,
        address: String,
    ) -> Result<Resource<Connection>, Error> {
        let policy = store.with(|mut access| access.get().policy.clone());
        let connection = connect(&policy, &address).await?;
        store.with(|mut access| access.get().push(connection))
    }

    async fn query_async(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<
        (
            Vec<Column>,
            StreamReader<Row>,
            FutureReader<Result<(), Error>>,
        ),
        Error,
    > {
        let client = store.with(|mut access| access.get().client(&c))?;
        let rows = query(&client, &statement, params).await?;
        store.with(|mut access| {
            let (stream, done) = super::streams::rows_and_done(&mut access, rows.rows)
                .map_err(|e| Error::Other(e.to_string()))?;
            Ok((rows.columns, stream, done))
        })
    }

    async fn execute_async(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        let client = store.with(|mut access| access.get().client(&c))?;
        execute(&client, &statement, params).await
    }
}

impl<U> postgres::HostConnectionBuilderWithStore<U> for Postgres {
    async fn build_async(
        store: &Accessor<U, Self>,
        builder: Resource<ConnectionBuilder>,
    ) -> Result<Resource<Connection>, Error> {
        let address = store.with(|mut access| access.get().builder_address(&builder))?;
        <Self as postgres::HostConnectionWithStore<U>>::open_async(store, address).await
    }
}
