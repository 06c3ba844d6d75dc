//! What a Spin app's process reports about itself, for the operator: metrics named as
//! OpenTelemetry's semantic conventions name them, served to Prometheus from `/metrics` on the
//! address `SPIN_METRICS_ADDR` gives (off unless set).
//!
//! Recording costs nothing until [`metrics::enable`] is called: every recording site asks
//! [`metrics::get`] first and gets `None`.

pub mod metrics;
pub mod prometheus;
pub mod traces;

/// The environment variable (of a task, or of `spinrt up`) that turns the Prometheus endpoint
/// on: the address to listen on, `0.0.0.0:9090` for example.
pub const METRICS_ADDR_ENV: &str = "SPIN_METRICS_ADDR";
