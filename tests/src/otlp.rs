//! An OTLP/HTTP receiver for traces, built on the protocol's official protobuf definitions
//! (`opentelemetry-proto`): it keeps every span exported to it, for a test to read.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// Listens on 127.0.0.1; `endpoint()` is what `OTEL_EXPORTER_OTLP_ENDPOINT` should say.
pub struct OtlpReceiver {
    pub port: u16,
    spans: Arc<Mutex<Vec<Span>>>,
    _runtime: tokio::runtime::Runtime,
}

impl OtlpReceiver {
    pub fn start() -> Self {
        use http_body_util::{BodyExt, Full};
        use hyper::service::service_fn;
        use prost::Message;

        let (runtime, listener) = crate::services::runtime_and_listener();
        let port = listener.local_addr().unwrap().port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let kept = kept.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let body = req.into_body().collect().await?.to_bytes();
                            let status = match ExportTraceServiceRequest::decode(body) {
                                Ok(export) if path == "/v1/traces" => {
                                    let mut kept = kept.lock().unwrap();
                                    for resource in export.resource_spans {
                                        for scope in resource.scope_spans {
                                            kept.extend(scope.spans);
                                        }
                                    }
                                    200
                                }
                                _ => 400,
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
            _runtime: runtime,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
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
        bytes::Bytes::from_static(b"not an OTLP trace export\n")
    }
}

/// A span attribute's value, as text (strings as they are, integers in decimal).
pub fn attribute(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}
