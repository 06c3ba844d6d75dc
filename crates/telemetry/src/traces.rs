//! Traces, as Spin emits them: with `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set,
//! one server span per request (continuing the caller's `traceparent`), under it a client span
//! for each outbound HTTP request (carrying `traceparent` onward) and each call of a host
//! interface (key-value, SQLite, Redis, PostgreSQL, MySQL, MQTT), exported over OTLP in batches
//! from a thread of their own: a request never waits on the collector, and an unreachable one
//! costs a warning in the log. Spans a guest records itself (`wasi:otel`, see the engine's
//! `host::otel`) go out with them.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, SpanData, SpanProcessor, Tracer,
};

struct Tracing {
    provider: SdkTracerProvider,
    tracer: Tracer,
    /// The provider's batch processor, which also takes the spans guests record themselves
    /// (`wasi:otel`): they arrive finished, with ids of their own.
    processor: Arc<BatchSpanProcessor>,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

/// Turns tracing on if the process's environment names an OTLP endpoint for traces;
/// `Ok(false)` when it does not (nothing is recorded then).
pub(crate) fn init() -> Result<bool, String> {
    let Some(protocol) = crate::otlp::configured("TRACES")? else {
        return Ok(false);
    };
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let exporter = match protocol {
        Protocol::Grpc => builder.with_tonic().build(),
        _ => builder.with_http().with_protocol(protocol).build(),
    }
    .map_err(|e| format!("the OTLP trace exporter: {e}"))?;
    let resource = crate::otlp::resource();
    let mut processor = BatchSpanProcessor::builder(exporter).build();
    processor.set_resource(&resource);
    let processor = Arc::new(processor);
    let provider = SdkTracerProvider::builder()
        .with_span_processor(SharedProcessor(processor.clone()))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("spinrt");
    let _ = TRACING.set(Tracing {
        provider,
        tracer,
        processor,
    });
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

/// Exports a span a guest recorded itself, if it is sampled (the SDK's rule for its own).
pub fn export_guest_span(span: SpanData) {
    if let Some(tracing) = TRACING.get()
        && span.span_context.is_sampled()
    {
        tracing.processor.on_end(span);
    }
}

/// The batch processor, shared by the provider and [`export_guest_span`]; the resource is set
/// on it before it is shared.
#[derive(Debug)]
struct SharedProcessor(Arc<BatchSpanProcessor>);

impl SpanProcessor for SharedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
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
    /// The span the request's work is in now: the request's, or a guest's standing in for it.
    pub fn span_context(&self) -> SpanContext {
        self.0.span().span_context().clone()
    }

    /// The same trace with `span`, one a guest started (`wasi:otel`), as the parent of the
    /// host's spans made from it.
    pub fn within(&self, span: SpanContext) -> TraceContext {
        TraceContext(self.0.with_remote_span_context(span))
    }

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
