use std::collections::HashMap;

use spinrt_app::{App, ComponentSource};
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker};

use crate::host::output::GuestOutput;
use crate::host::variables::AppVariables;
use crate::host::wasi::CgiStdio;
use crate::host::{AppHost, ComponentHost, HostConfig, wasi_2023_10_18};
use crate::{Engine, EngineError, InstanceState, LoadOutcome};

/// An app whose components are compiled and pre-instantiated: ready to serve.
pub struct LoadedApp {
    app: App,
    engine: Engine,
    components: HashMap<String, LoadedComponent>,
    output: GuestOutput,
    variables: AppVariables,
}

/// One component, linked once; [`LoadedComponent::new_store`] and its `InstancePre` make
/// each request's instance.
pub struct LoadedComponent {
    id: String,
    component: Component,
    pre: InstancePre<InstanceState>,
    host: ComponentHost,
    outcome: LoadOutcome,
    engine: Engine,
}

/// Why a component cannot be linked. Imports of WASI 0.2 release candidates beyond what
/// spin-sdk 2.x uses get a message of their own: the linker alone would only say a resource
/// or an instance is missing.
fn link_error(engine: &Engine, component: &Component, e: wasmtime::Error) -> String {
    let component_type = component.component_type();
    let unsupported: Vec<&str> = component_type
        .imports(engine.wasmtime())
        .map(|(name, _)| name)
        .filter(|name| name.contains("@0.2.0-rc-") && !wasi_2023_10_18::INTERFACES.contains(name))
        .collect();
    if unsupported.is_empty() {
        return format!("cannot be linked: {e:#}");
    }
    format!(
        "cannot be linked: it imports WASI 0.2 release-candidate interfaces this runtime does \
         not implement ({}); of the release candidates it implements only what spin-sdk 2.x \
         apps import ({}): rebuild the app against WASI 0.2 (spin-sdk 3 or later)",
        unsupported.join(", "),
        wasi_2023_10_18::INTERFACES.join(", ")
    )
}

impl LoadedApp {
    /// Compiles (or loads from cache) and links every component, and prepares the host
    /// interfaces each one is granted (configuration errors name the component).
    pub fn load(engine: &Engine, app: App, host: HostConfig) -> Result<Self, EngineError> {
        let mut linker = Linker::<InstanceState>::new(engine.wasmtime());
        crate::host::add_to_linker(&mut linker)
            .map_err(|e| EngineError::Config(format!("linking host interfaces: {e:#}")))?;
        let mut app_host = AppHost::new(&app, host)?;
        let mut components = HashMap::new();
        for c in &app.components {
            let read = |path: &std::path::Path| {
                std::fs::read(path).map_err(|e| {
                    EngineError::component(
                        &c.id,
                        format!("cannot read source {}: {e}", path.display()),
                    )
                })
            };
            let started = std::time::Instant::now();
            let (component, outcome) = match &c.source {
                ComponentSource::File(path) => engine.load_component(&c.id, &read(path)?)?,
                ComponentSource::Inline(bytes) => engine.load_component(&c.id, bytes)?,
                ComponentSource::Precompiled(path) => (
                    engine.load_precompiled_file(&c.id, path)?,
                    LoadOutcome::Cached,
                ),
            };
            if let Some(metrics) = spinrt_telemetry::metrics::get() {
                let compiled = outcome == LoadOutcome::Compiled;
                metrics.component_loaded(&c.id, !compiled, started.elapsed());
            }
            let pre = linker
                .instantiate_pre(&component)
                .map_err(|e| EngineError::component(&c.id, link_error(engine, &component, e)))?;
            let host = app_host.prepare(c)?;
            components.insert(
                c.id.clone(),
                LoadedComponent {
                    id: c.id.clone(),
                    component,
                    pre,
                    host,
                    outcome,
                    engine: engine.clone(),
                },
            );
        }
        Ok(Self {
            app,
            engine: engine.clone(),
            components,
            output: app_host.output().clone(),
            variables: app_host.variables().clone(),
        })
    }

    /// Waits (at most `timeout`) until what the guests wrote to stdout and stderr is out:
    /// before the process exits.
    pub fn flush_output(&self, timeout: std::time::Duration) {
        self.output.flush(timeout);
    }

    /// Renders a `{{ variable }}` template of the app's (a trigger's setting) with the values
    /// the app's variables resolved to.
    pub fn render(&self, template: &str) -> Result<String, EngineError> {
        self.variables.render(template)
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn component(&self, id: &str) -> Option<&LoadedComponent> {
        self.components.get(id)
    }

    pub fn components(&self) -> impl Iterator<Item = &LoadedComponent> {
        self.components.values()
    }
}

impl LoadedComponent {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn component(&self) -> &Component {
        &self.component
    }

    pub fn instance_pre(&self) -> &InstancePre<InstanceState> {
        &self.pre
    }

    /// Largest linear memory one of its instances may grow to.
    pub fn max_memory(&self) -> usize {
        self.engine.max_memory_size()
    }

    /// Whether this load compiled the component or took it from the precompile cache.
    pub fn load_outcome(&self) -> LoadOutcome {
        self.outcome
    }

    /// A fresh store for one instance: per-request state, memory limit, and a yield to the
    /// async executor at every epoch tick so a busy guest cannot starve the others.
    pub fn new_store(&self) -> Result<Store<InstanceState>, EngineError> {
        self.store(None)
    }

    /// A fresh store for a WAGI request: as [`Self::new_store`], with the request as the
    /// command's arguments, environment and stdin, and its stdout captured.
    pub fn new_cgi_store(&self, cgi: CgiStdio) -> Result<Store<InstanceState>, EngineError> {
        self.store(Some(cgi))
    }

    fn store(&self, cgi: Option<CgiStdio>) -> Result<Store<InstanceState>, EngineError> {
        let metrics = spinrt_telemetry::metrics::get();
        let state = InstanceState::new(
            &self.id,
            self.host.instance(&self.id, cgi)?,
            self.engine.max_memory_size(),
            self.engine.guest_running(),
        );
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| s.limits());
        match metrics {
            // The same yield, counted.
            Some(metrics) => {
                let yields = metrics.epoch_yields(&self.id);
                store.epoch_deadline_callback(move |_| {
                    yields.inc();
                    Ok(wasmtime::UpdateDeadline::Yield(1))
                });
            }
            None => store.epoch_deadline_async_yield_and_update(1),
        }
        Ok(store)
    }
}
