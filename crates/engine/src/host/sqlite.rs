//! `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.1.0` (the same interface plus
//! `last-insert-rowid` and `changes`, and since 3.1 async variants whose rows come as a
//! stream, which spin-sdk 7 uses): databases a component is granted with `sqlite_databases`.
//! Both versions share one implementation over rusqlite's values.
//!
//! `default` is a SQLite file under the app's state directory (in memory without one); the
//! runtime config may place it elsewhere and define other names (`[sqlite_database.NAME]`,
//! `type = "spin"`). Each is opened once per app and shared by its instances. A database the
//! component was not granted is `access-denied`; one granted but not defined is a load error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::{Value as SqlValue, ValueRef};
use spinrt_telemetry::traces::TraceContext;
use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

use super::bindings::fermyon::spin::sqlite as v2;
use super::bindings::spin::sqlite::sqlite as v3;
use crate::runtime_config::{SpinStore, SqliteDatabaseConfig};
use crate::{EngineError, InstanceState};

pub struct Database {
    name: String,
    db: Mutex<rusqlite::Connection>,
}

/// An open connection, as the guest holds it: the shared database, and what its own last
/// statement did (other instances' statements do not change these).
pub struct Connection {
    database: Arc<Database>,
    last_insert_rowid: i64,
    changes: u64,
}

/// The app's databases, by name.
pub struct AppSqlite {
    config: BTreeMap<String, SqliteDatabaseConfig>,
    databases: BTreeMap<String, Arc<Database>>,
}

impl AppSqlite {
    /// `config`: the runtime config's `[sqlite_database.*]`; `default` is implied.
    pub fn new(mut config: BTreeMap<String, SqliteDatabaseConfig>) -> Self {
        config
            .entry("default".into())
            .or_insert_with(|| SqliteDatabaseConfig::Spin(SpinStore::default()));
        Self {
            config,
            databases: BTreeMap::new(),
        }
    }

    pub fn grant(
        &mut self,
        component: &str,
        names: &[String],
        state_dir: Option<&Path>,
    ) -> Result<ComponentSqlite, EngineError> {
        let mut granted = BTreeMap::new();
        for name in names {
            if !self.databases.contains_key(name) {
                let SqliteDatabaseConfig::Spin(SpinStore { path }) =
                    self.config.get(name).ok_or_else(|| {
                        EngineError::component(
                            component,
                            format!(
                                "SQLite database '{name}' is not defined: add \
                                 [sqlite_database.{name}] to the runtime config"
                            ),
                        )
                    })?;
                let file = path
                    .clone()
                    .or_else(|| state_dir.map(|d| d.join(format!("sqlite-{name}.db"))));
                let db = open(name, file.as_deref())?;
                self.databases.insert(name.clone(), Arc::new(db));
            }
            granted.insert(name.clone(), self.databases[name].clone());
        }
        Ok(ComponentSqlite(Arc::new(granted)))
    }
}

fn open(name: &str, file: Option<&Path>) -> Result<Database, EngineError> {
    let fail =
        |e: &dyn std::fmt::Display| EngineError::Config(format!("SQLite database '{name}': {e}"));
    let db = match file {
        Some(file) => {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
            }
            rusqlite::Connection::open(file)
        }
        None => rusqlite::Connection::open_in_memory(),
    }
    .map_err(|e| fail(&e))?;
    Ok(Database {
        name: name.to_string(),
        db: Mutex::new(db),
    })
}

/// The databases one component may open.
#[derive(Clone, Default)]
pub struct ComponentSqlite(Arc<BTreeMap<String, Arc<Database>>>);

pub(crate) fn view(s: &mut InstanceState) -> SqliteView<'_> {
    let (host, table) = s.host_and_table();
    SqliteView {
        granted: &host.sqlite,
        trace: host.http.trace.as_ref(),
        table,
    }
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    v2::add_to_linker::<_, Sqlite>(linker, view)?;
    v3::add_to_linker::<_, Sqlite>(linker, view)
}

pub(crate) struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

pub struct SqliteView<'a> {
    granted: &'a ComponentSqlite,
    trace: Option<&'a TraceContext>,
    table: &'a mut ResourceTable,
}

/// What went wrong, before it becomes either version's error.
enum Failure {
    AccessDenied,
    InvalidConnection,
    DatabaseFull,
    Io(String),
}

/// A query's answer, before it becomes either version's result.
struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<SqlValue>>,
}

impl SqliteView<'_> {
    fn open(&mut self, database: &str) -> Result<Resource<Connection>, Failure> {
        let database = self
            .granted
            .0
            .get(database)
            .ok_or(Failure::AccessDenied)?
            .clone();
        self.table
            .push(Connection {
                database,
                last_insert_rowid: 0,
                changes: 0,
            })
            .map_err(|e| Failure::Io(e.to_string()))
    }

    fn execute(
        &mut self,
        connection: &Resource<Connection>,
        statement: &str,
        parameters: Vec<SqlValue>,
    ) -> Result<Rows, Failure> {
        let connection = self
            .table
            .get_mut(connection)
            .map_err(|_| Failure::InvalidConnection)?;
        let database = connection.database.clone();
        let span = self
            .trace
            .map(|t| t.host_call("sqlite", "execute", Some(&database.name)));
        let db = database.db.lock().unwrap_or_else(|p| p.into_inner());
        let rows = execute(&db, statement, parameters);
        if let Some(span) = span {
            span.finish(rows.as_ref().map(drop).map_err(|e| e.to_string()));
        }
        let rows = rows.map_err(|e| {
            log::debug!("SQLite database '{}': {e}", database.name);
            match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                    Failure::DatabaseFull
                }
                e => Failure::Io(e.to_string()),
            }
        })?;
        // Read under the same lock as the statement ran: no other instance's statement in
        // between.
        connection.last_insert_rowid = db.last_insert_rowid();
        connection.changes = db.changes();
        Ok(rows)
    }
}

fn execute(
    db: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<SqlValue>,
) -> rusqlite::Result<Rows> {
    let mut stmt = db.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(parameters))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(i) => SqlValue::Integer(i),
                    ValueRef::Real(f) => SqlValue::Real(f),
                    // Text that is not UTF-8 still reaches the guest, as Spin does.
                    ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                })
            })
            .collect::<rusqlite::Result<_>>()?;
        out.push(values);
    }
    Ok(Rows { columns, rows: out })
}

/// The guest-facing side of one version of the interface: its values, errors and results
/// from the shared implementation. The two versions' types are identical in shape.
macro_rules! sqlite_version {
    ($v:ident) => {
        impl From<$v::Value> for SqlValue {
            fn from(value: $v::Value) -> Self {
                match value {
                    $v::Value::Integer(i) => SqlValue::Integer(i),
                    $v::Value::Real(f) => SqlValue::Real(f),
                    $v::Value::Text(t) => SqlValue::Text(t),
                    $v::Value::Blob(b) => SqlValue::Blob(b),
                    $v::Value::Null => SqlValue::Null,
                }
            }
        }

        impl From<SqlValue> for $v::Value {
            fn from(value: SqlValue) -> Self {
                match value {
                    SqlValue::Integer(i) => $v::Value::Integer(i),
                    SqlValue::Real(f) => $v::Value::Real(f),
                    SqlValue::Text(t) => $v::Value::Text(t),
                    SqlValue::Blob(b) => $v::Value::Blob(b),
                    SqlValue::Null => $v::Value::Null,
                }
            }
        }

        impl From<Failure> for $v::Error {
            fn from(failure: Failure) -> Self {
                match failure {
                    Failure::AccessDenied => $v::Error::AccessDenied,
                    Failure::InvalidConnection => $v::Error::InvalidConnection,
                    Failure::DatabaseFull => $v::Error::DatabaseFull,
                    Failure::Io(e) => $v::Error::Io(e),
                }
            }
        }

        impl From<Rows> for $v::QueryResult {
            fn from(rows: Rows) -> Self {
                $v::QueryResult {
                    columns: rows.columns,
                    rows: rows
                        .rows
                        .into_iter()
                        .map(|values| $v::RowResult {
                            values: values.into_iter().map(Into::into).collect(),
                        })
                        .collect(),
                }
            }
        }

        impl $v::Host for SqliteView<'_> {}
    };
}

sqlite_version!(v2);
sqlite_version!(v3);

impl v2::HostConnection for SqliteView<'_> {
    async fn open(&mut self, database: String) -> Result<Resource<Connection>, v2::Error> {
        Ok(SqliteView::open(self, &database)?)
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> Result<v2::QueryResult, v2::Error> {
        let parameters = parameters.into_iter().map(Into::into).collect();
        Ok(SqliteView::execute(self, &connection, &statement, parameters)?.into())
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl v3::HostConnection for SqliteView<'_> {
    async fn open(&mut self, database: String) -> Result<Resource<Connection>, v3::Error> {
        Ok(SqliteView::open(self, &database)?)
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> Result<v3::QueryResult, v3::Error> {
        let parameters = parameters.into_iter().map(Into::into).collect();
        Ok(SqliteView::execute(self, &connection, &statement, parameters)?.into())
    }

    // The guest can only pass a connection it holds, so the lookup does not fail.
    async fn last_insert_rowid(&mut self, connection: Resource<Connection>) -> i64 {
        self.table
            .get(&connection)
            .map_or(0, |c| c.last_insert_rowid)
    }

    async fn changes(&mut self, connection: Resource<Connection>) -> u64 {
        self.table.get(&connection).map_or(0, |c| c.changes)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// The async variants (3.1): the same statements, run at once under the database's lock as
/// the sync ones are; the rows then reach the guest through a stream, and the future says
/// the stream is complete.
impl<U> v3::HostConnectionWithStore<U> for Sqlite {
    async fn open_async(
        store: &Accessor<U, Self>,
        database: String,
    ) -> Result<Resource<Connection>, v3::Error> {
        store.with(|mut access| Ok(access.get().open(&database)?))
    }

    async fn execute_async(
        store: &Accessor<U, Self>,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> Result<
        (
            Vec<String>,
            StreamReader<v3::RowResult>,
            FutureReader<Result<(), v3::Error>>,
        ),
        v3::Error,
    > {
        let parameters = parameters.into_iter().map(Into::into).collect();
        store.with(|mut access| {
            let result: v3::QueryResult = access
                .get()
                .execute(&connection, &statement, parameters)?
                .into();
            let (rows, done) = super::streams::rows_and_done(&mut access, result.rows)
                .map_err(|e| v3::Error::Io(e.to_string()))?;
            Ok((result.columns, rows, done))
        })
    }

    async fn last_insert_rowid_async(
        store: &Accessor<U, Self>,
        connection: Resource<Connection>,
    ) -> i64 {
        store.with(|mut access| {
            access
                .get()
                .table
                .get(&connection)
                .map_or(0, |c| c.last_insert_rowid)
        })
    }

    async fn changes_async(store: &Accessor<U, Self>, connection: Resource<Connection>) -> u64 {
        store.with(|mut access| access.get().table.get(&connection).map_or(0, |c| c.changes))
    }
}
