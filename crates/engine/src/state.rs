use spinrt_telemetry::metrics::InstanceInUse;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::GuestRunning;
use crate::host::InstanceHost;

/// What one instance owns (one request's, or several requests' of a reused WASI 0.3 instance):
/// its resource table and each host interface's state.
pub struct InstanceState {
    table: ResourceTable,
    http: WasiHttpCtx,
    host: InstanceHost,
    limits: Limits,
    /// Keeps the epoch ticking while this instance's store lives.
    _running: GuestRunning,
    /// Counts this instance in the metrics while it lives (when they are on).
    _in_use: Option<InstanceInUse>,
}

impl InstanceState {
    pub(crate) fn new(
        component: &str,
        host: InstanceHost,
        max_memory: usize,
        running: GuestRunning,
    ) -> Self {
        let metrics = spinrt_telemetry::metrics::get();
        Self {
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            host,
            limits: Limits {
                limits: StoreLimitsBuilder::new().memory_size(max_memory).build(),
                counted_as: metrics.map(|_| component.to_string()),
            },
            _running: running,
            _in_use: metrics.map(|m| m.instance_created(component)),
        }
    }

    pub(crate) fn limits(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
    }

    /// Makes the instance's outbound requests part of `trace` (spans, `traceparent`).
    pub fn join_trace(&mut self, trace: spinrt_telemetry::traces::TraceContext) {
        self.host.http.trace = Some(trace);
    }

    /// The host interfaces' state and the resource table, borrowed together (each interface's
    /// view takes its own part of the first and the second).
    pub(crate) fn host_and_table(&mut self) -> (&mut InstanceHost, &mut ResourceTable) {
        (&mut self.host, &mut self.table)
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.host.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.host.http,
        }
    }
}

/// Counts `error`, which a call of `component`'s ended in, in the metrics (when they are on)
/// if it is a trap.
pub fn count_if_trap(component: &str, error: &wasmtime::Error) {
    if let Some(metrics) = spinrt_telemetry::metrics::get()
        && error.downcast_ref::<wasmtime::Trap>().is_some()
    {
        metrics.trapped(component);
    }
}

/// The instance's memory limit; a growth it refuses is counted in the metrics (when they are
/// on) under the component's id.
struct Limits {
    limits: StoreLimits,
    counted_as: Option<String>,
}

impl Limits {
    fn counted(&self, allowed: wasmtime::Result<bool>) -> wasmtime::Result<bool> {
        if let (Ok(false), Some(component), Some(metrics)) =
            (&allowed, &self.counted_as, spinrt_telemetry::metrics::get())
        {
            metrics.memory_grow_refused(component);
        }
        allowed
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum);
        self.counted(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.table_growing(current, desired, maximum);
        self.counted(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}
