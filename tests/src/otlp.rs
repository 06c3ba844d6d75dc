//! An OTLP/HTTP receiver for traces and metrics (and one over gRPC for traces), built on the
//! protocol's official protobuf definitions (`opentelemetry-proto`): it keeps every span and
//! metric exported to it, for a test to read, or only counts the spans, for a benchmark that
//! sends hundreds of thousands.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use opentelemetry_proto::tonic::metrics::v1::Metric;
pub use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// Listens on 127.0.0.1; `endpoint()` is what `OTEL_EXPORTER_OTLP_ENDPOINT` should say.
pub struct OtlpReceiver {
    pub port: u16,
    spans: Arc<Mutex<Vec<Span>>>,
    metrics: Arc<Mutex<Vec<Metric>>>,
    received: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl OtlpReceiver {
    pub fn start() -> Self {
        Self::start_http(true)
    }

    /// A receiver that decodes every export as [`OtlpReceiver::start`]'s does but keeps
    /// nothing: [`OtlpReceiver::received`] counts the spans.
    pub fn start_counting() -> Self {
        Self::start_http(false)
    }

    fn start_http(keep: bool) -> Self {
        use http_body_util::{BodyExt, Full};
        use hyper::service::service_fn;
        use prost::Message;

        let (runtime, listener) = crate::services::runtime_and_listener();
        let port = listener.local_addr().unwrap().port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(AtomicUsize::new(0));
        let kept = (spans.clone(), metrics.clone(), received.clone());
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (spans, metrics, received) = kept.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let body = req.into_body().collect().await?.to_bytes();
                            let status = match path.as_str() {
                                "/v1/traces" => match ExportTraceServiceRequest::decode(body) {
                                    Ok(export) => {
                                        received.fetch_add(
                                            keep_spans(export, keep.then_some(&spans)),
                                            Ordering::Relaxed,
                                        );
                                        200
                                    }
                                    Err(_) => 400,
                                },
                                "/v1/metrics" => match ExportMetricsServiceRequest::decode(body) {
                                    Ok(_) if !keep => 200,
                                    Ok(export) => {
                                        let mut kept = metrics.lock().unwrap();
                                        for resource in export.resource_metrics {
                                            for scope in resource.scope_metrics {
                                                kept.extend(scope.metrics);
                                            }
                                        }
                                        200
                                    }
                                    Err(_) => 400,
                                },
                                _ => 404,
                            };
                            let mut res = hyper::Response::new(Full::new(bytes_of(status)));
                            *res.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, hyper::Error>(res)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            port,
            spans,
            metrics,
            received,
            _runtime: runtime,
        }
    }

    /// The same receiver for traces over OTLP/gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`), on
    /// tonic as collectors serve it.
    pub fn start_grpc() -> Self {
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;

        let (runtime, listener) = crate::services::runtime_and_listener();
        let port = listener.local_addr().unwrap().port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(AtomicUsize::new(0));
        let service = TraceServiceServer::new(GrpcTraces(spans.clone(), received.clone()));
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        Self {
            port,
            spans,
            metrics: Arc::default(),
            received,
            _runtime: runtime,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many spans have come so far (kept or not).
    pub fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// The metrics received so far, each export's in the order they came.
    pub fn metrics(&self) -> Vec<Metric> {
        self.metrics.lock().unwrap().clone()
    }

    /// Waits (at most 30 s) until a span of `kind` named `name` has come, and returns it.
    pub fn wait_for(&self, kind: SpanKind, name: &str) -> Span {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(span) = self
                .spans()
                .into_iter()
                .find(|s| s.kind == kind as i32 && s.name == name)
            {
                return span;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind:?} span '{name}' among {:#?}",
                self.spans()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn bytes_of(status: u16) -> bytes::Bytes {
    // An empty ExportTraceServiceResponse encodes to no bytes at all.
    if status == 200 {
        bytes::Bytes::new()
    } else {
        bytes::Bytes::from_static(b"not an OTLP export\n")
    }
}

/// A span attribute's value, as text (strings as they are, integers in decimal).
pub fn attribute(span: &Span, key: &str) -> Option<String> {
    attribute_in(&span.attributes, key)
}

/// An attribute's value among `attributes` (a span's, a data point's), as text.
pub fn attribute_in(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let value = attributes.iter().find(|a| a.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Counts the spans of `export`, and keeps them in `kept` if given.
fn keep_spans(export: ExportTraceServiceRequest, kept: Option<&Mutex<Vec<Span>>>) -> usize {
    let spans = export
        .resource_spans
        .into_iter()
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans);
    match kept {
        Some(kept) => {
            let mut kept = kept.lock().unwrap();
            let before = kept.len();
            kept.extend(spans);
            kept.len() - before
        }
        None => spans.count(),
    }
}

/// Keeps the spans of every gRPC export.
struct GrpcTraces(Arc<Mutex<Vec<Span>>>, Arc<AtomicUsize>);

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for GrpcTraces
{
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        let count = keep_spans(request.into_inner(), Some(&self.0));
        self.1.fetch_add(count, Ordering::Relaxed);
        Ok(tonic::Response::new(Default::default()))
    }
}
