//! `fermyon:spin/sqlite`: databases a component is granted with `sqlite_databases`.
//!
//! `default` is a SQLite file under the app's state directory (in memory without one); the
//! runtime config may place it elsewhere and define other names (`[sqlite_database.NAME]`,
//! `type = "spin"`). Each is opened once per app and shared by its instances. A database the
//! component was not granted is `access-denied`; one granted but not defined is a load error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, ValueRef};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::runtime_config::{SpinStore, SqliteDatabaseConfig};
use crate::{EngineError, InstanceState};

pub struct Database {
    name: String,
    db: Mutex<rusqlite::Connection>,
}

/// An open connection, as the guest holds it.
pub struct Connection(Arc<Database>);

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

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    sqlite::add_to_linker::<_, Sqlite>(linker, |s| {
        let (host, table) = s.host_and_table();
        SqliteView {
            granted: &host.sqlite,
            table,
        }
    })
}

struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

pub struct SqliteView<'a> {
    granted: &'a ComponentSqlite,
    table: &'a mut ResourceTable,
}

impl sqlite::Host for SqliteView<'_> {}

impl sqlite::HostConnection for SqliteView<'_> {
    async fn open(&mut self, database: String) -> Result<Resource<Connection>, Error> {
        let db = self.granted.0.get(&database).ok_or(Error::AccessDenied)?;
        self.table
            .push(Connection(db.clone()))
            .map_err(|e| Error::Io(e.to_string()))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let database = self
            .table
            .get(&connection)
            .map_err(|_| Error::InvalidConnection)?
            .0
            .clone();
        let db = database.db.lock().unwrap_or_else(|p| p.into_inner());
        execute(&db, &statement, &parameters).map_err(|e| {
            log::debug!("SQLite database '{}': {e}", database.name);
            match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                    Error::DatabaseFull
                }
                e => Error::Io(e.to_string()),
            }
        })
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

fn execute(
    db: &rusqlite::Connection,
    statement: &str,
    parameters: &[Value],
) -> rusqlite::Result<QueryResult> {
    let mut stmt = db.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let params: Vec<Param<'_>> = parameters.iter().map(Param).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                })
            })
            .collect::<rusqlite::Result<_>>()?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
            Value::Null => ValueRef::Null,
        }))
    }
}
