//! The wasmtime engine for Spin apps.
//!
//! One [`Engine`] per process: a wasmtime engine with the pooling allocator and epoch
//! interruption, and a precompile cache. [`LoadedApp`] turns an [`spinrt_app::App`] into one
//! `InstancePre` per component, once; a trigger makes an instance from it per request or event
//! (the HTTP trigger reuses a WASI 0.3 component's instance for several, as Spin does).

mod cache;
pub mod componentize;
mod config;
mod engine;
mod epoch;
mod error;
pub mod exports;
pub mod host;
mod loaded;
mod runtime_config;
mod state;

pub use cache::PrecompileCache;
pub use config::{EngineConfig, PoolingLimits};
pub use engine::{Engine, LoadOutcome, LoadStats, open_page_map};
pub use epoch::GuestRunning;
pub use error::EngineError;
pub use host::HostConfig;
pub use loaded::{LoadedApp, LoadedComponent};
pub use runtime_config::{
    KeyValueStoreConfig, RedisStore, RuntimeConfig, SpinStore, SqliteDatabaseConfig, read_dotenv,
};
pub use state::{InstanceState, count_if_trap};

pub use wasmtime;
pub use wasmtime_wasi;
pub use wasmtime_wasi_http;
