//! `containerd-shim-spin-v2`, containerd's runtime `io.containerd.spin.v2`, as a library with
//! two binaries: `containerd-shim-spin-v2`, the shim daemon ([`daemon`]), and
//! `containerd-shim-spin-v2-server`, which the daemon starts beside itself for the confined
//! work: serving one Spin container ([`serve`]), compiling an image's Wasm ([`compile`]), and
//! running the pod's sandbox container without runc ([`sandbox`]).

pub mod compile;
pub mod daemon;
pub mod sandbox;
pub mod serve;
pub mod server_task;
mod task_env;

/// The file name of the binary that serves and compiles.
pub const SERVER_BINARY: &str = "containerd-shim-spin-v2-server";

/// The server binary, installed beside the shim's (containerd runs the shim by its path).
pub fn server_binary() -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("locating the shim binary")?;
    let server = exe.with_file_name(SERVER_BINARY);
    anyhow::ensure!(
        server.is_file(),
        "{} is missing: it is installed beside {} (spinrt install puts both there)",
        server.display(),
        exe.display()
    );
    Ok(server)
}
