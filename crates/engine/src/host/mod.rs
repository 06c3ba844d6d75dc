//! Host interfaces: one module each. Every module has the same shape: what it adds to the
//! linker (once per engine), what it derives from a component's configuration (once per app
//! load, where errors are reported), and the cheap per-instance state built from that.

pub mod http;
pub mod wasi;

use wasmtime::component::Linker;

use crate::InstanceState;

/// Adds every host interface to the linker.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasi::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    Ok(())
}
