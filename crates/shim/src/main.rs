//! `containerd-shim-spin-v2`: containerd's runtime `io.containerd.spin.v2`. The daemon serves
//! containerd's task API; what needs wasmtime runs in `containerd-shim-spin-v2-server` beside it.

use containerd_shim_spin_v2::daemon;

fn main() {
    containerd_shim::run::<daemon::SpinShim>(
        "io.containerd.spin.v2",
        Some(containerd_shim::Config {
            default_log_level: "info".to_string(),
            ..Default::default()
        }),
    );
}
