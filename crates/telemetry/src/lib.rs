//! What a Spin app's process reports about itself, for the operator: metrics named as
//! OpenTelemetry's semantic conventions name them, served to Prometheus from `/metrics` on the
//! address `SPIN_METRICS_ADDR` gives, and traces and metrics exported over OTLP when the
//! standard `OTEL_EXPORTER_OTLP_*ENDPOINT` variables name a collector (each off unless set).
//!
//! Recording costs nothing until something turns it on: every recording site asks
//! [`metrics::get`] or [`traces::server_span`] first and gets `None`.

pub mod metrics;
// The engine builds guests' spans (`wasi:otel`) from these, at the versions spans are made with.
pub use {opentelemetry, opentelemetry_sdk};
mod otel_metrics;
mod otlp;
pub mod prometheus;
pub mod traces;

/// Starts the OTLP exporters the process's environment asks for (traces, metrics, both or
/// neither), over `http/protobuf` or `grpc`; another protocol is an error naming it.
pub fn init_otlp() -> Result<(), String> {
    traces::init()?;
    if otel_metrics::init()? {
        metrics::enable();
    }
    Ok(())
}

/// Exports what the OTLP exporters still hold: before the process exits.
pub fn shutdown_otlp() {
    traces::shutdown();
    otel_metrics::shutdown();
}

/// The environment variable (of a task, or of `spinrt up`) that turns the Prometheus endpoint
/// on: the address to listen on, `0.0.0.0:9090` for example.
pub const METRICS_ADDR_ENV: &str = "SPIN_METRICS_ADDR";
