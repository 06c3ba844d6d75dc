//! `containerd-shim-spin-v2`, containerd's runtime `io.containerd.spin.v2`, as a library: the
//! binary is a thin shell that runs either the shim daemon ([`daemon`]) or, as its hidden
//! subcommand, the confined server of one Spin container ([`serve`]).

pub mod compile;
pub mod daemon;
pub mod serve;
pub mod server_task;
mod task_env;
