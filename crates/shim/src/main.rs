//! `containerd-shim-spin-v2`: containerd's runtime `io.containerd.spin.v2`.

use containerd_shim_spin_v2::{compile, daemon, serve, server_task};

fn main() {
    let mut args = std::env::args_os().skip(1);
    match args.next() {
        Some(sub) if sub == server_task::SUBCOMMAND => {
            let task_file = args.next().unwrap_or_default();
            std::process::exit(serve::main(std::path::Path::new(&task_file)));
        }
        Some(sub) if sub == compile::SUBCOMMAND => {
            let arg = args.next().unwrap_or_default();
            std::process::exit(compile::main(&arg.to_string_lossy()));
        }
        _ => {}
    }
    containerd_shim::run::<daemon::SpinShim>(
        "io.containerd.spin.v2",
        Some(containerd_shim::Config {
            default_log_level: "info".to_string(),
            ..Default::default()
        }),
    );
}
