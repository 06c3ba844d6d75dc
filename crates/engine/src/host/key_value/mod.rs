//! `fermyon:spin/key-value@2.0.0`, `spin:key-value/key-value@3.0.0` (its async successor,
//! spin-sdk 7) and `wasi:keyvalue` (see [`wasi_keyvalue`]): labelled stores a component is
//! granted with `key_value_stores`.
//!
//! `default` is a table in a SQLite file under the app's state directory (in memory when there
//! is no state directory); the runtime config may place it elsewhere and define other labels
//! (`type = "spin"`, a SQLite file; `type = "redis"`). Each store is opened once per app and
//! shared by all instances. A label the component was not granted is `access-denied`, as in
//! Spin; a granted label that is not defined is a load error.

mod v3;
mod wasi_keyvalue;

pub use wasi_keyvalue::Cas;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ::redis::AsyncCommands;
use ::redis::aio::MultiplexedConnection;
use rusqlite::OptionalExtension;
use spinrt_telemetry::traces::{self, TraceContext};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings;
use super::bindings::fermyon::spin::key_value::{self, Error};
use crate::runtime_config::{KeyValueStoreConfig, SpinStore};
use crate::{EngineError, InstanceState};

/// One labelled store.
pub struct KvStore {
    label: String,
    backend: Backend,
}

enum Backend {
    Sqlite(Mutex<rusqlite::Connection>),
    /// Connected on first use: loading the app does not wait for Redis.
    Redis {
        client: ::redis::Client,
        conn: tokio::sync::OnceCell<MultiplexedConnection>,
    },
}

/// An open store, as the guest holds it: the store, and the trace its calls are part of.
pub struct Store(TracedKv);

/// A store whose calls are spans of a request's trace (when tracing is on).
#[derive(Clone)]
pub struct TracedKv {
    kv: Arc<KvStore>,
    trace: Option<TraceContext>,
}

impl TracedKv {
    async fn traced<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let label = Some(self.kv.label.as_str());
        traces::traced(self.trace.as_ref(), "key_value", operation, label, call).await
    }

    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.traced("get", self.kv.get(key)).await
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.traced("set", self.kv.set(key, value)).await
    }

    async fn delete(&self, key: String) -> Result<(), Error> {
        self.traced("delete", self.kv.delete(key)).await
    }

    async fn exists(&self, key: String) -> Result<bool, Error> {
        self.traced("exists", self.kv.exists(key)).await
    }

    async fn increment(&self, key: String, delta: i64) -> Result<i64, Error> {
        self.traced("increment", self.kv.increment(key, delta))
            .await
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        self.traced("get_keys", self.kv.keys()).await
    }
}

impl std::ops::Deref for TracedKv {
    type Target = KvStore;

    fn deref(&self) -> &KvStore {
        &self.kv
    }
}

impl KvStore {
    fn open(
        label: &str,
        config: &KeyValueStoreConfig,
        state_dir: Option<&Path>,
    ) -> Result<Self, EngineError> {
        let fail = |e: &dyn std::fmt::Display| {
            EngineError::Config(format!("key-value store '{label}': {e}"))
        };
        let backend = match config {
            KeyValueStoreConfig::Spin(SpinStore { path }) => {
                let file = path
                    .clone()
                    .or_else(|| state_dir.map(|d| d.join(format!("key-value-{label}.db"))));
                let db = match file {
                    Some(file) => {
                        if let Some(dir) = file.parent() {
                            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
                        }
                        rusqlite::Connection::open(&file)
                    }
                    None => rusqlite::Connection::open_in_memory(),
                }
                .map_err(|e| fail(&e))?;
                db.execute_batch(
                    "CREATE TABLE IF NOT EXISTS spin_key_value (
                         key TEXT PRIMARY KEY, value BLOB NOT NULL)",
                )
                .map_err(|e| fail(&e))?;
                Backend::Sqlite(Mutex::new(db))
            }
            KeyValueStoreConfig::Redis(redis) => Backend::Redis {
                client: ::redis::Client::open(redis.url.as_str()).map_err(|e| fail(&e))?,
                conn: tokio::sync::OnceCell::new(),
            },
        };
        Ok(Self {
            label: label.to_string(),
            backend,
        })
    }

    fn fail(&self, e: impl std::fmt::Display) -> Error {
        log::warn!("key-value store '{}': {e}", self.label);
        Error::Other(e.to_string())
    }

    fn sqlite<T>(
        &self,
        db: &Mutex<rusqlite::Connection>,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&db).map_err(|e| self.fail(e))
    }

    async fn redis(&self) -> Result<MultiplexedConnection, Error> {
        let Backend::Redis { client, conn } = &self.backend else {
            unreachable!("only called for Redis stores")
        };
        conn.get_or_try_init(|| client.get_multiplexed_async_connection())
            .await
            .cloned()
            .map_err(|e| self.fail(e))
    }

    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        match &self.backend {
            Backend::Sqlite(db) => self.sqlite(db, |db| select_value(db, &key)),
            Backend::Redis { .. } => self.redis().await?.get(key).await.map_err(|e| self.fail(e)),
        }
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(db) => self.sqlite(db, |db| upsert_value(db, &key, &value)),
            Backend::Redis { .. } => self
                .redis()
                .await?
                .set(key, value)
                .await
                .map_err(|e| self.fail(e)),
        }
    }

    async fn delete(&self, key: String) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(db) => self.sqlite(db, |db| {
                db.execute("DELETE FROM spin_key_value WHERE key = ?1", [&key])
                    .map(drop)
            }),
            Backend::Redis { .. } => self.redis().await?.del(key).await.map_err(|e| self.fail(e)),
        }
    }

    async fn exists(&self, key: String) -> Result<bool, Error> {
        match &self.backend {
            Backend::Sqlite(db) => self.sqlite(db, |db| {
                db.query_row(
                    "SELECT EXISTS(SELECT 1 FROM spin_key_value WHERE key = ?1)",
                    [&key],
                    |r| r.get(0),
                )
            }),
            Backend::Redis { .. } => self
                .redis()
                .await?
                .exists(key)
                .await
                .map_err(|e| self.fail(e)),
        }
    }

    /// Adds `delta` to the integer under `key` (0 when absent), kept as decimal text as Redis
    /// keeps it, and returns the sum. Atomic: under the store's lock, or one Redis command.
    async fn increment(&self, key: String, delta: i64) -> Result<i64, Error> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let current = select_value(&db, &key).map_err(|e| self.fail(e))?;
                let current = match current {
                    None => 0,
                    Some(bytes) => std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .ok_or_else(|| {
                            Error::Other(format!("the value of '{key}' is not an integer"))
                        })?,
                };
                let sum = current
                    .checked_add(delta)
                    .ok_or_else(|| Error::Other(format!("incrementing '{key}' overflows")))?;
                upsert_value(&db, &key, sum.to_string().as_bytes()).map_err(|e| self.fail(e))?;
                Ok(sum)
            }
            Backend::Redis { .. } => self
                .redis()
                .await?
                .incr(key, delta)
                .await
                .map_err(|e| self.fail(e)),
        }
    }

    /// Sets `key` to `value` if it still holds `expected` (`None`: absent); false if not.
    async fn swap_if(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, Error> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let current = select_value(&db, key).map_err(|e| self.fail(e))?;
                if current.as_deref() != expected {
                    return Ok(false);
                }
                upsert_value(&db, key, value).map_err(|e| self.fail(e))?;
                Ok(true)
            }
            Backend::Redis { .. } => {
                // Compare and set in one step on the server.
                let script = ::redis::Script::new(
                    "local cur = redis.call('GET', KEYS[1]) \
                     if (ARGV[1] == 'absent' and cur == false) or \
                        (ARGV[1] == 'equal' and cur == ARGV[2]) then \
                       redis.call('SET', KEYS[1], ARGV[3]) return 1 end \
                     return 0",
                );
                let swapped: i64 = script
                    .key(key)
                    .arg(if expected.is_some() {
                        "equal"
                    } else {
                        "absent"
                    })
                    .arg(expected.unwrap_or_default())
                    .arg(value)
                    .invoke_async(&mut self.redis().await?)
                    .await
                    .map_err(|e| self.fail(e))?;
                Ok(swapped == 1)
            }
        }
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        match &self.backend {
            Backend::Sqlite(db) => self.sqlite(db, |db| {
                let mut stmt = db.prepare("SELECT key FROM spin_key_value ORDER BY key")?;
                stmt.query_map([], |r| r.get(0))?.collect()
            }),
            Backend::Redis { .. } => self
                .redis()
                .await?
                .keys("*")
                .await
                .map_err(|e| self.fail(e)),
        }
    }
}

fn select_value(db: &rusqlite::Connection, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    db.query_row(
        "SELECT value FROM spin_key_value WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
}

fn upsert_value(db: &rusqlite::Connection, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO spin_key_value (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, value],
    )
    .map(drop)
}

/// The app's stores, by label, opened as components ask for them.
pub struct AppKeyValue {
    config: BTreeMap<String, KeyValueStoreConfig>,
    stores: BTreeMap<String, Arc<KvStore>>,
}

impl AppKeyValue {
    /// `config`: the runtime config's `[key_value_store.*]`; `default` is implied.
    pub fn new(mut config: BTreeMap<String, KeyValueStoreConfig>) -> Self {
        config
            .entry("default".into())
            .or_insert_with(|| KeyValueStoreConfig::Spin(SpinStore::default()));
        Self {
            config,
            stores: BTreeMap::new(),
        }
    }

    /// The stores `labels` name, opened (once per app) under `state_dir`.
    pub fn grant(
        &mut self,
        component: &str,
        labels: &[String],
        state_dir: Option<&Path>,
    ) -> Result<ComponentKeyValue, EngineError> {
        let mut granted = BTreeMap::new();
        for label in labels {
            let store = match self.stores.get(label) {
                Some(store) => store.clone(),
                None => {
                    let config = self.config.get(label).ok_or_else(|| {
                        EngineError::component(
                            component,
                            format!(
                                "key-value store '{label}' is not defined: add \
                                 [key_value_store.{label}] to the runtime config"
                            ),
                        )
                    })?;
                    let store = Arc::new(KvStore::open(label, config, state_dir)?);
                    self.stores.insert(label.clone(), store.clone());
                    store
                }
            };
            granted.insert(label.clone(), store);
        }
        Ok(ComponentKeyValue(Arc::new(granted)))
    }
}

/// The stores one component may open.
#[derive(Clone, Default)]
pub struct ComponentKeyValue(Arc<BTreeMap<String, Arc<KvStore>>>);

/// The granted stores and the resource table, as every key-value interface sees them.
pub(crate) fn view(s: &mut InstanceState) -> KeyValueView<'_> {
    let (host, table) = s.host_and_table();
    KeyValueView {
        granted: &host.key_value,
        trace: host.http.trace.as_ref(),
        table,
    }
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    key_value::add_to_linker::<_, KeyValue>(linker, view)?;
    v3::add_to_linker(linker)?;
    bindings::wasi::keyvalue::store::add_to_linker::<_, KeyValue>(linker, view)?;
    bindings::wasi::keyvalue::batch::add_to_linker::<_, KeyValue>(linker, view)?;
    bindings::wasi::keyvalue::atomics::add_to_linker::<_, KeyValue>(linker, view)
}

pub(crate) struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

pub(crate) struct KeyValueView<'a> {
    granted: &'a ComponentKeyValue,
    trace: Option<&'a TraceContext>,
    table: &'a mut ResourceTable,
}

impl KeyValueView<'_> {
    /// A granted store, opened for the guest; `access-denied` for any other label.
    fn open_label(&mut self, label: String) -> Result<Resource<Store>, Error> {
        let store = self.granted.0.get(&label).ok_or(Error::AccessDenied)?;
        self.table
            .push(Store(TracedKv {
                kv: store.clone(),
                trace: self.trace.cloned(),
            }))
            .map_err(|_| Error::StoreTableFull)
    }

    fn store(&self, store: &Resource<Store>) -> Result<TracedKv, Error> {
        self.table
            .get(store)
            .map(|s| s.0.clone())
            .map_err(|e| Error::Other(e.to_string()))
    }
}

impl key_value::Host for KeyValueView<'_> {}

impl key_value::HostStore for KeyValueView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<Store>, Error> {
        self.open_label(label)
    }

    async fn get(&mut self, store: Resource<Store>, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.store(&store)?.get(key).await
    }

    async fn set(
        &mut self,
        store: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        self.store(&store)?.set(key, value).await
    }

    async fn delete(&mut self, store: Resource<Store>, key: String) -> Result<(), Error> {
        self.store(&store)?.delete(key).await
    }

    async fn exists(&mut self, store: Resource<Store>, key: String) -> Result<bool, Error> {
        self.store(&store)?.exists(key).await
    }

    async fn get_keys(&mut self, store: Resource<Store>) -> Result<Vec<String>, Error> {
        self.store(&store)?.keys().await
    }

    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
