//! `containerd-shim-spin-v2`: containerd's runtime `io.containerd.spin.v2`. The daemon serves
//! containerd's task API; what needs wasmtime runs in `containerd-shim-spin-v2-server` beside it.

use containerd_shim_spin_v2::daemon;

fn main() {
    // One malloc arena: the daemon's threads (ttrpc's, a handful per containerd connection)
    // each got one of their own, which an idle pod's daemon held, half empty, for good.
    // SAFETY: mallopt changes the allocator's settings before any thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    containerd_shim::run::<daemon::SpinShim>(
        "io.containerd.spin.v2",
        Some(containerd_shim::Config {
            default_log_level: "info".to_string(),
            ..Default::default()
        }),
    );
}
