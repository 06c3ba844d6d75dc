//! Traces, as Spin emits them: with `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set,
//! one server span per request (continuing the caller's `traceparent`), under it a client span
//! for each outbound HTTP request (carrying `traceparent` onward) and each call of a host
//! interface (key-value, SQLite, Redis, PostgreSQL, MySQL, MQTT), exported over OTLP in batches
//! from a thread of their own: a request never waits on the collector, and an unreachable one
//! costs a warning in the log.

use std::borrow::Cow;
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};

struct Tracing {
    provider: SdkTracerProvider,
    tracer: Tracer,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

/// Turns tracing on if the process's environment names an OTLP endpoint for traces;
/// `Ok(false)` when it does not (nothing is recorded then).
pub(crate) fn init() -> Result<bool, String> {
    if !crate::otlp::configured("TRACES")? {
        return Ok(false);
    }
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("the OTLP trace exporter: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(crate::otlp::resource())
        .build();
    let tracer = provider.tracer("spinrt");
    let _ = TRACING.set(Tracing { provider, tracer });
    log::info!("exporting traces over OTLP");
    Ok(true)
}

/// Exports what is still batched (before the process exits).
pub(crate) fn shutdown() {
    if let Some(tracing) = TRACING.get()
        && let Err(e) = tracing.provider.shutdown()
    {
        log::warn!("exporting the last traces: {e}");
    }
}

/// The trace a request's work belongs to: where the host's own spans (outbound HTTP) go.
#[derive(Clone, Debug)]
pub struct TraceContext(Context);

/// The server span of one request; ended by [`RequestSpan::finish`].
pub struct RequestSpan {
    cx: Context,
    method: &'static str,
}

/// A request's server span, continuing the trace of its `traceparent` header; `None` when
/// tracing is off.
pub fn server_span(
    headers: &http::HeaderMap,
    method: &http::Method,
    path: &str,
) -> Option<RequestSpan> {
    let tracing = TRACING.get()?;
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let method = crate::metrics::method_label(method);
    let span = tracing
        .tracer
        .span_builder(method)
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.path", path.to_string()),
            KeyValue::new("url.scheme", "http"),
        ])
        .start_with_context(&tracing.tracer, &parent);
    Some(RequestSpan {
        cx: parent.with_span(span),
        method,
    })
}

impl RequestSpan {
    /// The trace the request's guest works in.
    pub fn trace(&self) -> TraceContext {
        TraceContext(self.cx.clone())
    }

    /// Ends the span with the request's outcome; `routed` is the route and component that
    /// served it, if one did.
    pub fn finish(self, routed: Option<(&str, &str)>, status: u16) {
        let span = self.cx.span();
        if let Some((route, component)) = routed {
            span.update_name(format!("{} {route}", self.method));
            span.set_attribute(KeyValue::new("http.route", route.to_string()));
            span.set_attribute(KeyValue::new("spin.component_id", component.to_string()));
        }
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_status(Status::error(format!("status {status}")));
        }
        span.end();
    }
}

impl TraceContext {
    /// Starts the client span of an outbound request and writes its `traceparent` into the
    /// request's headers.
    pub fn outbound_request(&self, request: &mut http::Request<impl Sized>) -> OutboundSpan {
        let tracing = TRACING
            .get()
            .expect("a trace context exists only with tracing on");
        let method = crate::metrics::method_label(request.method());
        let uri = request.uri();
        let mut attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.full", uri.to_string()),
        ];
        if let Some(host) = uri.host() {
            attributes.push(KeyValue::new("server.address", host.to_string()));
        }
        if let Some(port) = uri.port_u16() {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        let span = tracing
            .tracer
            .span_builder(method)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&tracing.tracer, &self.0);
        let cx = self.0.with_span(span);
        TraceContextPropagator::new()
            .inject_context(&cx, &mut HeaderInjector(request.headers_mut()));
        OutboundSpan(cx)
    }
}

impl TraceContext {
    /// Starts the span of one call of a host interface (`key_value get` in store `default`,
    /// `redis SET`), a child of the request's span.
    pub fn host_call(
        &self,
        interface: &'static str,
        operation: &str,
        target: Option<&str>,
    ) -> HostCallSpan {
        let tracing = TRACING
            .get()
            .expect("a trace context exists only with tracing on");
        let mut attributes = vec![
            KeyValue::new("db.system.name", format!("spin.{interface}")),
            KeyValue::new("db.operation.name", operation.to_string()),
        ];
        if let Some(target) = target {
            attributes.push(KeyValue::new("db.namespace", target.to_string()));
        }
        let span = tracing
            .tracer
            .span_builder(format!("{interface} {operation}"))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&tracing.tracer, &self.0);
        HostCallSpan(self.0.with_span(span))
    }
}

/// Runs `call`, a call of a host interface, as a span of `trace` (when tracing is on).
pub async fn traced<T, E: std::fmt::Debug>(
    trace: Option<&TraceContext>,
    interface: &'static str,
    operation: &str,
    target: Option<&str>,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let Some(trace) = trace else {
        return call.await;
    };
    let span = trace.host_call(interface, operation, target);
    let result = call.await;
    span.finish(result.as_ref().map(drop).map_err(|e| format!("{e:?}")));
    result
}

/// A host call's span; ended with the call's outcome.
pub struct HostCallSpan(Context);

impl HostCallSpan {
    pub fn finish(self, outcome: Result<(), String>) {
        let span = self.0.span();
        if let Err(e) = outcome {
            span.set_status(Status::error(e));
        }
        span.end();
    }
}

/// An outbound request's span; ended when its response head comes (or it fails).
pub struct OutboundSpan(Context);

impl OutboundSpan {
    pub fn finish(self, outcome: Result<u16, String>) {
        let span = self.0.span();
        match outcome {
            Ok(status) => {
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 400 {
                    span.set_status(Status::error(format!("status {status}")));
                }
            }
            Err(e) => span.set_status(Status::error(Cow::Owned(e))),
        }
        span.end();
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}
