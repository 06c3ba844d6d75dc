//! Spin's HTTP trigger: a hyper server that routes each request to a component and runs it in a
//! fresh instance (or, for WASI 0.3 components, one reused as Spin reuses them), with the
//! `spin-*` headers Spin sets.

mod body;
mod executor;
mod headers;
pub mod reuse;
mod server;

pub use reuse::InstanceReuse;
pub use server::{HttpServer, ServeOptions, shutdown_signal};

/// Where the trigger listens unless told otherwise; `SPIN_HTTP_LISTEN_ADDR` overrides it, as in
/// the Kubernetes Spin shim.
pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:80";
pub const LISTEN_ADDR_ENV: &str = "SPIN_HTTP_LISTEN_ADDR";

/// The address to listen on: the explicit one, else `SPIN_HTTP_LISTEN_ADDR` as `lookup` gives
/// it, else `0.0.0.0:80`.
pub fn listen_addr(
    explicit: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<std::net::SocketAddr, String> {
    let text = explicit
        .map(str::to_string)
        .or_else(|| lookup(LISTEN_ADDR_ENV))
        .unwrap_or_else(|| DEFAULT_LISTEN_ADDR.to_string());
    text.parse()
        .map_err(|e| format!("invalid listen address '{text}': {e}"))
}
