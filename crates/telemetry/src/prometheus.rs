//! The Prometheus endpoint: `GET /metrics` in OpenMetrics text, on a listener of its own (the
//! pod's network namespace in a task), beside the app's HTTP trigger, until the process ends.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Turns recording on and serves the metrics on `listener` for the rest of the process.
pub fn spawn(listener: TcpListener) {
    let metrics = crate::metrics::enable();
    if let Ok(addr) = listener.local_addr() {
        log::info!("serving metrics on http://{addr}/metrics");
    }
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    log::warn!("metrics endpoint: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                std::future::ready(Ok::<_, Infallible>(answer(metrics, &req)))
            });
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    log::debug!("metrics endpoint: {e}");
                }
            });
        }
    });
}

fn answer<B>(metrics: &crate::metrics::Metrics, req: &Request<B>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if req.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "metrics are at /metrics\n".into());
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, metrics.registry()) {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"));
    }
    let mut response = reply(StatusCode::OK, text);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE),
    );
    response
}
