//! What OpenTelemetry's exporters share: whether the environment names an OTLP endpoint for a
//! signal, over a protocol we speak, and the resource (service) they describe.

pub(crate) use opentelemetry_otlp::Protocol;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The protocol `signal` (`TRACES`, `METRICS`) is to be exported over, or `None` when neither
/// its own endpoint variable nor the common one is set. `http/protobuf` unless
/// `OTEL_EXPORTER_OTLP_{signal}_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL` says `grpc`; any
/// other protocol (`http/json`) is an error naming it.
pub(crate) fn configured(signal: &str) -> Result<Option<Protocol>, String> {
    let endpoints = [
        format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"),
        "OTEL_EXPORTER_OTLP_ENDPOINT".to_string(),
    ];
    if endpoints.iter().all(|v| env(v).is_none()) {
        return Ok(None);
    }
    let protocols = [
        format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"),
        "OTEL_EXPORTER_OTLP_PROTOCOL".to_string(),
    ];
    match protocols.iter().find_map(|v| env(v)).as_deref() {
        None | Some("http/protobuf") => Ok(Some(Protocol::HttpBinary)),
        Some("grpc") => Ok(Some(Protocol::Grpc)),
        Some(other) => Err(format!(
            "OTLP protocol {other} is not supported: telemetry is exported over http/protobuf \
             or grpc"
        )),
    }
}

/// The process as OpenTelemetry describes it: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`,
/// the service named `spin` when they do not name it.
pub(crate) fn resource() -> opentelemetry_sdk::Resource {
    let named = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    let mut resource = opentelemetry_sdk::Resource::builder();
    if !named {
        resource = resource.with_service_name("spin");
    }
    resource.build()
}
