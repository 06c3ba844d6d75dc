//! The process's metrics, one set per process (an app per process), in a Prometheus registry.
//!
//! Names follow OpenTelemetry's conventions as Prometheus spells them (dots become
//! underscores, the unit a suffix, counters end in `_total`): `http.server.request.duration`
//! is `http_server_request_duration_seconds`, its attributes `http_request_method`,
//! `http_route`, `http_response_status_code`; Spin's own are under `spin_`.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use opentelemetry::KeyValue;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::otel_metrics;

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Turns recording on for the rest of the process; the metrics from then on.
pub fn enable() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// The metrics, if recording is on.
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// OpenTelemetry's advised boundaries for `http.server.request.duration`, in seconds.
pub(crate) const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Boundaries for a component's load: from a mapped file (milliseconds) to a compile
/// (seconds).
pub(crate) const LOAD_BUCKETS: [f64; 10] =
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

fn request_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

fn load_histogram() -> Histogram {
    Histogram::new(LOAD_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    http_request_method: &'static str,
    /// The route as the manifest writes it; empty when no route matched (OpenTelemetry then
    /// omits the attribute, and Prometheus takes an empty label as none).
    http_route: String,
    http_response_status_code: u16,
    spin_component_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    http_request_method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    spin_component_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoadLabels {
    spin_component_id: String,
    /// `compiled`, or `cache` when the machine code was there already.
    spin_component_source: &'static str,
}

pub struct Metrics {
    registry: Registry,
    request_duration: Family<RequestLabels, Histogram>,
    active_requests: Family<MethodLabels, Gauge>,
    instances_in_use: Family<ComponentLabels, Gauge>,
    instance_pool_size: Gauge,
    traps: Family<ComponentLabels, Counter>,
    epoch_yields: Family<ComponentLabels, Counter>,
    memory_refusals: Family<ComponentLabels, Counter>,
    load_duration: Family<LoadLabels, Histogram>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let request_duration = Family::new_with_constructor(request_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests, to the response head",
            Unit::Seconds,
            request_duration.clone(),
        );
        let active_requests = Family::default();
        registry.register(
            "http_server_active_requests",
            "Number of active HTTP server requests",
            active_requests.clone(),
        );
        let instances_in_use = Family::default();
        registry.register(
            "spin_instances_in_use",
            "Guest instances alive now (each takes a slot of the instance pool)",
            instances_in_use.clone(),
        );
        let instance_pool_size = Gauge::default();
        registry.register(
            "spin_instance_pool_size",
            "Guest instances the pooling allocator has slots for",
            instance_pool_size.clone(),
        );
        let traps = Family::default();
        registry.register(
            "spin_guest_traps",
            "Guest calls that ended in a trap (a panic, an out-of-bounds access, ...)",
            traps.clone(),
        );
        let epoch_yields = Family::default();
        registry.register(
            "spin_guest_epoch_yields",
            "Times a guest still running at an epoch tick (10 ms) was made to yield to others",
            epoch_yields.clone(),
        );
        let memory_refusals = Family::default();
        registry.register(
            "spin_guest_memory_grow_refusals",
            "Guest memory or table growths refused because they would pass the instance's limit",
            memory_refusals.clone(),
        );
        let load_duration = Family::new_with_constructor(load_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "spin_component_load_duration",
            "Time to load a component: compiled, or its machine code taken from a cache",
            Unit::Seconds,
            load_duration.clone(),
        );
        Self {
            registry,
            request_duration,
            active_requests,
            instances_in_use,
            instance_pool_size,
            traps,
            epoch_yields,
            memory_refusals,
            load_duration,
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A request begins: it counts as active until the returned guard is dropped.
    pub fn request_started(&self, method: &http::Method) -> ActiveRequest {
        let method = method_label(method);
        let gauge = self
            .active_requests
            .get_or_create(&MethodLabels {
                http_request_method: method,
            })
            .clone();
        gauge.inc();
        let otel = otel_metrics::get().map(|o| {
            let attributes = [KeyValue::new("http.request.method", method)];
            o.active_requests.add(1, &attributes);
            attributes
        });
        ActiveRequest { gauge, otel }
    }

    /// A request was answered (its response head is out); `routed` is the route and component
    /// that served it, if a route matched.
    pub fn request_answered(
        &self,
        method: &http::Method,
        routed: Option<(&str, &str)>,
        status: u16,
        duration: Duration,
    ) {
        let (route, component) = routed.unwrap_or_default();
        let method = method_label(method);
        self.request_duration
            .get_or_create(&RequestLabels {
                http_request_method: method,
                http_route: route.to_string(),
                http_response_status_code: status,
                spin_component_id: component.to_string(),
            })
            .observe(duration.as_secs_f64());
        if let Some(o) = otel_metrics::get() {
            let mut attributes = vec![
                KeyValue::new("http.request.method", method),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ];
            // Absent, not empty, when no route matched (OpenTelemetry's convention).
            if let Some((route, component)) = routed {
                attributes.push(KeyValue::new("http.route", route.to_string()));
                attributes.push(KeyValue::new("spin.component_id", component.to_string()));
            }
            o.request_duration
                .record(duration.as_secs_f64(), &attributes);
        }
    }

    /// An instance of `component` exists until the returned guard is dropped.
    pub fn instance_created(&self, component: &str) -> InstanceInUse {
        let gauge = self
            .instances_in_use
            .get_or_create(&component_labels(component))
            .clone();
        gauge.inc();
        let otel = otel_metrics::get().map(|o| {
            let attributes = component_attributes(component);
            o.instances_in_use.add(1, &attributes);
            attributes
        });
        InstanceInUse { gauge, otel }
    }

    pub fn set_instance_pool_size(&self, size: u32) {
        self.instance_pool_size.set(i64::from(size));
        if let Some(o) = otel_metrics::get() {
            o.instance_pool_size.record(i64::from(size), &[]);
        }
    }

    pub fn trapped(&self, component: &str) {
        self.traps.get_or_create(&component_labels(component)).inc();
        if let Some(o) = otel_metrics::get() {
            o.traps.add(1, &component_attributes(component));
        }
    }

    /// The counter a component's epoch yields go to, to keep in its store.
    pub fn epoch_yields(&self, component: &str) -> EpochYields {
        EpochYields {
            counter: self
                .epoch_yields
                .get_or_create(&component_labels(component))
                .clone(),
            otel: otel_metrics::get().map(|_| component_attributes(component)),
        }
    }

    pub fn memory_grow_refused(&self, component: &str) {
        self.memory_refusals
            .get_or_create(&component_labels(component))
            .inc();
        if let Some(o) = otel_metrics::get() {
            o.memory_refusals.add(1, &component_attributes(component));
        }
    }

    pub fn component_loaded(&self, component: &str, from_cache: bool, duration: Duration) {
        let source = if from_cache { "cache" } else { "compiled" };
        self.load_duration
            .get_or_create(&LoadLabels {
                spin_component_id: component.to_string(),
                spin_component_source: source,
            })
            .observe(duration.as_secs_f64());
        if let Some(o) = otel_metrics::get() {
            let attributes = [
                KeyValue::new("spin.component_id", component.to_string()),
                KeyValue::new("spin.component.source", source),
            ];
            o.load_duration.record(duration.as_secs_f64(), &attributes);
        }
    }
}

fn component_attributes(component: &str) -> [KeyValue; 1] {
    [KeyValue::new("spin.component_id", component.to_string())]
}

fn component_labels(component: &str) -> ComponentLabels {
    ComponentLabels {
        spin_component_id: component.to_string(),
    }
}

/// The method as OpenTelemetry records it: a known method by name, any other as `_OTHER`, so
/// clients cannot grow the label set without bound.
pub(crate) fn method_label(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "_OTHER",
    }
}

/// Keeps a request counted as active.
pub struct ActiveRequest {
    gauge: Gauge,
    otel: Option<[KeyValue; 1]>,
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.gauge.dec();
        if let (Some(attributes), Some(o)) = (&self.otel, otel_metrics::get()) {
            o.active_requests.add(-1, attributes);
        }
    }
}

/// Keeps an instance counted as in use.
pub struct InstanceInUse {
    gauge: Gauge,
    otel: Option<[KeyValue; 1]>,
}

impl Drop for InstanceInUse {
    fn drop(&mut self) {
        self.gauge.dec();
        if let (Some(attributes), Some(o)) = (&self.otel, otel_metrics::get()) {
            o.instances_in_use.add(-1, attributes);
        }
    }
}

/// Where one component's epoch yields are counted.
pub struct EpochYields {
    counter: Counter<u64, AtomicU64>,
    otel: Option<[KeyValue; 1]>,
}

impl EpochYields {
    pub fn inc(&self) {
        self.counter.inc();
        if let (Some(attributes), Some(o)) = (&self.otel, otel_metrics::get()) {
            o.epoch_yields.add(1, attributes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(metrics: &Metrics) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, metrics.registry()).unwrap();
        out
    }

    #[test]
    fn requests_are_counted_by_method_route_status_and_component() {
        let metrics = Metrics::new();
        let active = metrics.request_started(&http::Method::GET);
        assert!(
            text(&metrics).contains("http_server_active_requests{http_request_method=\"GET\"} 1")
        );
        drop(active);
        assert!(
            text(&metrics).contains("http_server_active_requests{http_request_method=\"GET\"} 0")
        );
        for _ in 0..3 {
            metrics.request_answered(
                &http::Method::GET,
                Some(("/hello", "hello")),
                200,
                Duration::from_millis(3),
            );
        }
        metrics.request_answered(
            &"BREW".parse().unwrap(),
            None,
            404,
            Duration::from_millis(1),
        );
        let out = text(&metrics);
        assert!(
            out.contains(
                "http_server_request_duration_seconds_count{http_request_method=\"GET\",\
                 http_route=\"/hello\",http_response_status_code=\"200\",\
                 spin_component_id=\"hello\"} 3"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "http_server_request_duration_seconds_count{http_request_method=\"_OTHER\",\
                 http_route=\"\",http_response_status_code=\"404\",spin_component_id=\"\"} 1"
            ),
            "{out}"
        );
    }

    #[test]
    fn guest_events_are_counted_by_component() {
        let metrics = Metrics::new();
        let instance = metrics.instance_created("a");
        metrics.trapped("a");
        metrics.memory_grow_refused("a");
        metrics.epoch_yields("a").inc();
        metrics.component_loaded("a", true, Duration::from_millis(2));
        let out = text(&metrics);
        for line in [
            "spin_instances_in_use{spin_component_id=\"a\"} 1",
            "spin_guest_traps_total{spin_component_id=\"a\"} 1",
            "spin_guest_memory_grow_refusals_total{spin_component_id=\"a\"} 1",
            "spin_guest_epoch_yields_total{spin_component_id=\"a\"} 1",
            "spin_component_load_duration_seconds_count{spin_component_id=\"a\",\
             spin_component_source=\"cache\"} 1",
        ] {
            assert!(out.contains(line), "{line} not in\n{out}");
        }
        drop(instance);
        assert!(text(&metrics).contains("spin_instances_in_use{spin_component_id=\"a\"} 0"));
    }
}
