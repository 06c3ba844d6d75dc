//! `containerd-shim-spin-v2`: containerd's runtime `io.containerd.spin.v2`.

use containerd_shim_spin_v2::{daemon, serve, server_task};

fn main() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() == Some(server_task::SUBCOMMAND.as_ref()) {
        let task_file = args.next().unwrap_or_default();
        std::process::exit(serve::main(std::path::Path::new(&task_file)));
    }
    containerd_shim::run::<daemon::SpinShim>(
        "io.containerd.spin.v2",
        Some(containerd_shim::Config {
            default_log_level: "info".to_string(),
            ..Default::default()
        }),
    );
}
