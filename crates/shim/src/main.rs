//! `containerd-shim-spin-v2`: containerd's runtime `io.containerd.spin.v2`.
//!
//! Built on runwasi's `containerd-shim-wasm`, which implements the containerd task API (create,
//! start, wait, kill, delete, stats from the task's cgroup, stdio FIFOs) and starts each task in
//! its own namespaces and cgroup. Inside the task we load the Spin app from the image and serve
//! its HTTP trigger with our engine; see [`sandbox`].

mod compiler;
mod sandbox;
mod task_env;

use containerd_shim_wasm::shim::{Cli, Compiler, Config, Shim, Version, version};

struct SpinShim;

impl Shim for SpinShim {
    fn name() -> &'static str {
        "spin"
    }

    fn version() -> Version {
        version!()
    }

    type Sandbox = sandbox::SpinSandbox;

    /// Compiles each image's Wasm once; runwasi keeps the result in containerd's content
    /// store, so later tasks of the same image start from machine code.
    async fn compiler() -> Option<impl Compiler> {
        compiler::SpinCompiler::new()
    }

    /// The layers containerd hands us: everything a Spin artifact holds.
    fn supported_layers_types() -> &'static [&'static str] {
        &spinrt_oci::media_types::SPIN_LAYERS
    }
}

fn main() {
    SpinShim::run(Config {
        default_log_level: "info".to_string(),
        ..Default::default()
    });
}
