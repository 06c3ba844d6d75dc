use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::GuestRunning;
use crate::host::InstanceHost;

/// What one instance (one request) owns: its resource table and each host interface's state.
pub struct InstanceState {
    table: ResourceTable,
    http: WasiHttpCtx,
    host: InstanceHost,
    limits: StoreLimits,
    /// Keeps the epoch ticking while this instance's store lives.
    _running: GuestRunning,
}

impl InstanceState {
    pub(crate) fn new(host: InstanceHost, max_memory: usize, running: GuestRunning) -> Self {
        Self {
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            host,
            limits: StoreLimitsBuilder::new().memory_size(max_memory).build(),
            _running: running,
        }
    }

    pub(crate) fn limits(&mut self) -> &mut StoreLimits {
        &mut self.limits
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
