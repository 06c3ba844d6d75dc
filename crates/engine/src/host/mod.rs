//! Host interfaces: one module each. Every module has the same shape: what it adds to the
//! linker (once per engine), what it derives from the app and a component's configuration
//! (once per app load, where configuration errors are reported), and the cheap per-instance
//! state built from that. [`AppHost`] and [`ComponentHost`] compose them; a module never
//! reaches into another's state.

pub(crate) mod bindings;
pub mod http;
pub mod key_value;
pub mod llm;
pub mod mqtt;
pub mod mysql;
pub mod otel;
pub mod outbound;
pub mod output;
pub mod postgres;
pub mod redis;
pub mod spin1;
pub mod sqlite;
mod streams;
pub mod variables;
pub mod wasi;
pub mod wasi_2023_10_18;

use output::GuestOutput;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use spinrt_app::{App, Component};
use wasmtime::component::Linker;

use crate::{EngineError, InstanceState, RuntimeConfig};
use key_value::{AppKeyValue, ComponentKeyValue};
use outbound::OutboundPolicy;
use sqlite::{AppSqlite, ComponentSqlite};
use variables::{AppVariables, ComponentVariables};
use wasi::ComponentWasi;

/// Adds every host interface to the linker.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasi::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    wasi_2023_10_18::add_to_linker(linker)?;
    variables::add_to_linker(linker)?;
    key_value::add_to_linker(linker)?;
    sqlite::add_to_linker(linker)?;
    redis::add_to_linker(linker)?;
    mqtt::add_to_linker(linker)?;
    postgres::add_to_linker(linker)?;
    mysql::add_to_linker(linker)?;
    otel::add_to_linker(linker)?;
    llm::add_to_linker(linker)?;
    spin1::add_to_linker(linker)?;
    // Types only (the cron, MQTT and SQS triggers' messages and errors): an empty instance
    // satisfies the import their components make.
    linker.instance("fermyon:spin-cron/cron-types@2.0.0")?;
    linker.instance("spin:mqtt-trigger/spin-mqtt-types@3.0.0")?;
    linker.instance("fermyon:spin-sqs/sqs-types@2.0.0")?;
    Ok(())
}

/// What the host interfaces take from where the app runs.
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    /// Where the app's runtime files live (component files, key-value and SQLite data); in
    /// memory or absent without one.
    pub state_dir: Option<PathBuf>,
    pub runtime_config: RuntimeConfig,
    /// The environment variable providers read (`SPIN_VARIABLE_<NAME>`, an `env` provider's
    /// prefix): the process's (CLI) or the task's (shim).
    pub env: BTreeMap<String, String>,
    /// Where the guests' stdout and stderr go; `None`: this process's, at the rate
    /// `SPIN_GUEST_OUTPUT_RATE` in `env` sets.
    pub output: Option<GuestOutput>,
}

/// What the host interfaces derive from the whole app, once per load.
pub struct AppHost {
    state_dir: Option<PathBuf>,
    variables: AppVariables,
    key_value: AppKeyValue,
    sqlite: AppSqlite,
    output: GuestOutput,
}

impl AppHost {
    pub fn new(app: &App, config: HostConfig) -> Result<Self, EngineError> {
        let output = match config.output {
            Some(output) => output,
            None => {
                let rate = GuestOutput::rate_from(|k| config.env.get(k).cloned())
                    .map_err(EngineError::Config)?;
                GuestOutput::to_process_stdio(rate).map_err(|e| {
                    EngineError::Config(format!("the process's stdout and stderr: {e}"))
                })?
            }
        };
        Ok(Self {
            output,
            variables: AppVariables::resolve(
                app,
                &config.env,
                &config.runtime_config.variables_providers,
            )?,
            key_value: AppKeyValue::new(config.runtime_config.key_value_store),
            sqlite: AppSqlite::new(config.runtime_config.sqlite_database),
            state_dir: config.state_dir,
        })
    }

    /// Where the app's guests write their stdout and stderr.
    pub fn variables(&self) -> &AppVariables {
        &self.variables
    }

    pub fn output(&self) -> &GuestOutput {
        &self.output
    }

    /// Checks a component's host configuration and prepares what its instances get.
    pub fn prepare(&mut self, component: &Component) -> Result<ComponentHost, EngineError> {
        let id = &component.id;
        let rules = component
            .allowed_outbound_hosts
            .iter()
            .map(|rule| self.variables.render(rule))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::component(id, format!("allowed_outbound_hosts: {e}")))?;
        let outbound = Arc::new(
            OutboundPolicy::parse(rules.iter().map(String::as_str))
                .map_err(|e| EngineError::component(id, e))?,
        );
        let state_dir = self.state_dir.as_deref();
        Ok(ComponentHost {
            wasi: ComponentWasi::prepare(
                component,
                state_dir.map(|d| d.join("files")).as_deref(),
                outbound.clone(),
                self.output.clone(),
            )?,
            variables: self.variables.for_component(component)?,
            key_value: self
                .key_value
                .grant(id, &component.key_value_stores, state_dir)?,
            sqlite: self
                .sqlite
                .grant(id, &component.sqlite_databases, state_dir)?,
            outbound,
        })
    }
}

/// What every instance of one component gets from the host interfaces.
pub struct ComponentHost {
    wasi: ComponentWasi,
    outbound: Arc<OutboundPolicy>,
    variables: ComponentVariables,
    key_value: ComponentKeyValue,
    sqlite: ComponentSqlite,
}

impl ComponentHost {
    pub(crate) fn instance(
        &self,
        component: &str,
        cgi: Option<wasi::CgiStdio>,
    ) -> Result<InstanceHost, EngineError> {
        Ok(InstanceHost {
            wasi: self.wasi.ctx(component, cgi)?,
            http: http::OutboundHttp::new(component, self.outbound.clone()),
            outbound: self.outbound.clone(),
            variables: self.variables.clone(),
            key_value: self.key_value.clone(),
            sqlite: self.sqlite.clone(),
            otel: otel::GuestSpans::default(),
        })
    }
}

/// One instance's host state, beside its resource table in [`InstanceState`].
pub struct InstanceHost {
    pub(crate) wasi: wasmtime_wasi::WasiCtx,
    pub(crate) http: http::OutboundHttp,
    pub(crate) outbound: Arc<OutboundPolicy>,
    pub(crate) variables: ComponentVariables,
    pub(crate) key_value: ComponentKeyValue,
    pub(crate) sqlite: ComponentSqlite,
    pub(crate) otel: otel::GuestSpans,
}
