//! The metrics of [`crate::metrics`] exported over OTLP too, when the environment names an
//! endpoint for them: the same instruments under OpenTelemetry's own (dotted) names, read and
//! exported every `OTEL_METRIC_EXPORT_INTERVAL` (60 s by default) from a thread of their own.

use std::sync::OnceLock;

use opentelemetry::metrics::{Counter, Gauge, Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};

pub(crate) struct Instruments {
    provider: SdkMeterProvider,
    pub(crate) request_duration: Histogram<f64>,
    pub(crate) active_requests: UpDownCounter<i64>,
    pub(crate) instances_in_use: UpDownCounter<i64>,
    pub(crate) instance_pool_size: Gauge<i64>,
    pub(crate) traps: Counter<u64>,
    pub(crate) epoch_yields: Counter<u64>,
    pub(crate) memory_refusals: Counter<u64>,
    pub(crate) load_duration: Histogram<f64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

pub(crate) fn get() -> Option<&'static Instruments> {
    INSTRUMENTS.get()
}

/// Starts exporting if the environment names an OTLP endpoint for metrics; `Ok(false)` when
/// it does not.
pub(crate) fn init() -> Result<bool, String> {
    let Some(protocol) = crate::otlp::configured("METRICS")? else {
        return Ok(false);
    };
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    let builder = opentelemetry_otlp::MetricExporter::builder();
    let exporter = match protocol {
        Protocol::Grpc => builder.with_tonic().build(),
        _ => builder.with_http().with_protocol(protocol).build(),
    }
    .map_err(|e| format!("the OTLP metric exporter: {e}"))?;
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter).build())
        .with_resource(crate::otlp::resource())
        .build();
    let meter = provider.meter("spinrt");
    let instruments = Instruments {
        request_duration: meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests, to the response head")
            .with_boundaries(crate::metrics::DURATION_BUCKETS.to_vec())
            .build(),
        active_requests: meter
            .i64_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .build(),
        instances_in_use: meter
            .i64_up_down_counter("spin.instances.in_use")
            .with_unit("{instance}")
            .build(),
        instance_pool_size: meter
            .i64_gauge("spin.instance_pool.size")
            .with_unit("{instance}")
            .build(),
        traps: meter.u64_counter("spin.guest.traps").build(),
        epoch_yields: meter.u64_counter("spin.guest.epoch_yields").build(),
        memory_refusals: meter.u64_counter("spin.guest.memory_grow_refusals").build(),
        load_duration: meter
            .f64_histogram("spin.component.load.duration")
            .with_unit("s")
            .with_boundaries(crate::metrics::LOAD_BUCKETS.to_vec())
            .build(),
        provider,
    };
    let _ = INSTRUMENTS.set(instruments);
    log::info!("exporting metrics over OTLP");
    Ok(true)
}

/// Exports what was recorded since the last export (before the process exits).
pub(crate) fn shutdown() {
    if let Some(instruments) = INSTRUMENTS.get()
        && let Err(e) = instruments.provider.shutdown()
    {
        log::warn!("exporting the last metrics: {e}");
    }
}
