//! `containerd-shim-spin-v2-server`: what the shim daemon starts beside itself for the work that
//! needs wasmtime, each confined: `serve-container TASK_FILE` (the process that serves one Spin
//! container) and `compile-wasm NAME` (the compiler of an image's Wasm). A binary of its own so
//! the daemon's stays small: every process of a binary pays for its relocations, and a pod's
//! daemon has no use for wasmtime.

use containerd_shim_spin_v2::{compile, serve, server_task};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let sub = args.next().unwrap_or_default();
    let arg = args.next().unwrap_or_default();
    let code = if sub == server_task::SUBCOMMAND {
        serve::main(std::path::Path::new(&arg))
    } else if sub == compile::SUBCOMMAND {
        compile::main(&arg.to_string_lossy())
    } else {
        eprintln!(
            "usage: {} {} TASK_FILE | {} NAME (started by containerd-shim-spin-v2)",
            env!("CARGO_BIN_NAME"),
            server_task::SUBCOMMAND,
            compile::SUBCOMMAND
        );
        2
    };
    std::process::exit(code);
}
