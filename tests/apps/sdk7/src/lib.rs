//! An HTTP app on spin-sdk 7, the current Spin SDK: a WASI 0.3 component exporting
//! `wasi:http/handler@0.3.0`.
//!
//! Paths are those below the component's route (`spin-path-info`).
//!
//! - `POST /echo`: streams the request body back as it arrives, chunk by chunk; the response
//!   starts before the request body ends. Headers: `x-method`, `x-uri`, and every `spin-*`
//!   request header echoed as `x-<name>`.
//! - `GET /count?n=N`: N lines `line I`, written one by one from a task the guest spawns
//!   after it has returned the response head (`x-lines: N`).
//! - `GET /requests`: how many requests this instance has served, itself included: always 1
//!   when every request gets a fresh instance.
//! - `GET /outbound?URL`: fetches URL (the query string) and answers its status and body.
//! - `GET /panic`: the guest panics (traps).
//! - `GET /fail`: the handler returns an error (the guest answers with an error code).
//! - `GET /busy?ms=N`: computes for N ms (reading the clock once a million rounds), then
//!   answers `busy N ms`.
//! - `GET /grow?mb=N`: allocates and touches N MiB, then answers `grew N MiB`.
//! - `GET /otel`: emits a span of its own through `wasi:otel` (a child of the host's request
//!   span, with attributes, an event and a key-value call made inside it) and answers
//!   `outer TRACE SPAN`, the host's span context it was given. `GET /otel?unstarted` ends a
//!   span it never started, `GET /otel?flood` opens 2,000 spans and ends none (the host traps
//!   either when tracing is on).
//! - Spin's async interfaces: see [`apis`].
mod apis;
mod otel;

use futures::{SinkExt, StreamExt};
use spin_sdk::http::body::{stream, IncomingBodyExt};
use spin_sdk::http::{box_body, BoxBody, Request, Response};
use spin_sdk::http_service;
use std::sync::atomic::{AtomicU32, Ordering};

static SERVED: AtomicU32 = AtomicU32::new(0);

#[http_service]
async fn handle(req: Request) -> anyhow::Result<Response<BoxBody>> {
    let served = SERVED.fetch_add(1, Ordering::SeqCst) + 1;
    // Routed on the path below the component's route, so the app works mounted anywhere.
    let path = req
        .headers()
        .get("spin-path-info")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(req.uri().path())
        .to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if apis::ROUTES.contains(&path.trim_start_matches('/').split('/').next().unwrap_or("")) {
        return match api(req, &path, &query).await? {
            Ok((status, body)) => text(status, body),
            Err(e) => text(500, e),
        };
    }
    match path.as_str() {
        "/echo" => echo(req),
        "/count" => count(&query),
        "/requests" => text(200, served.to_string()),
        "/outbound" => outbound(&query).await,
        "/panic" => panic!("the guest panics, as asked"),
        "/fail" => Err(anyhow::anyhow!("failing as asked")),
        "/busy" => busy(number(&query, "ms=")),
        "/grow" => grow(number(&query, "mb=")),
        "/otel" if query == "unstarted" => text(200, otel::end_unstarted()),
        "/otel" if query == "flood" => text(200, otel::open_many(2000)),
        "/otel" => text(200, otel::traced_work().await?),
        _ => text(404, format!("no route {path}")),
    }
}

async fn api(req: Request, path: &str, query: &str) -> anyhow::Result<apis::Answer> {
    let method = req.method().as_str().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Ok(match parts.as_slice() {
        ["variable", name] => apis::variable(name).await,
        ["kv", key @ ..] => apis::kv(&method, key, body(req).await?).await,
        ["sqlite"] => apis::sqlite(text_body(req).await?).await,
        ["redis"] => apis::redis(query, text_body(req).await?).await,
        ["mqtt"] => apis::mqtt(query, body(req).await?).await,
        ["pg"] => apis::pg(query, text_body(req).await?).await,
        ["mysql"] => apis::mysql(query, text_body(req).await?).await,
        _ => Ok((404, format!("no route {path}"))),
    })
}

async fn body(req: Request) -> anyhow::Result<Vec<u8>> {
    Ok(req.into_body().bytes().await?.to_vec())
}

async fn text_body(req: Request) -> anyhow::Result<String> {
    Ok(String::from_utf8(body(req).await?)?)
}

fn text(status: u16, body: String) -> anyhow::Result<Response<BoxBody>> {
    Ok(Response::builder().status(status).body(box_body(body))?)
}

fn echo(req: Request) -> anyhow::Result<Response<BoxBody>> {
    let mut response = Response::builder()
        .status(200)
        .header("x-method", req.method().as_str())
        .header("x-uri", req.uri().to_string());
    for (name, value) in req.headers() {
        if name.as_str().starts_with("spin-") {
            response = response.header(format!("x-{name}"), value);
        }
    }
    let (mut tx, body) = stream::<bytes::Bytes>();
    let mut incoming = req.into_body().stream();
    spin_sdk::wasip3::spawn(async move {
        while let Some(chunk) = incoming.next().await {
            let Ok(chunk) = chunk else { break };
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    Ok(response.body(box_body(body))?)
}

fn number(query: &str, key: &str) -> u64 {
    query
        .strip_prefix(key)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn busy(ms: u64) -> anyhow::Result<Response<BoxBody>> {
    let start = std::time::Instant::now();
    let mut x = 0u64;
    while start.elapsed().as_millis() < ms as u128 {
        for _ in 0..1_000_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    text(200, format!("busy {ms} ms"))
}

fn grow(mb: u64) -> anyhow::Result<Response<BoxBody>> {
    let mut memory = vec![0u8; (mb as usize) << 20];
    for page in memory.chunks_mut(4096) {
        page[0] = 1;
    }
    text(
        200,
        format!("grew {} MiB", std::hint::black_box(memory).len() >> 20),
    )
}

fn count(query: &str) -> anyhow::Result<Response<BoxBody>> {
    let n: u32 = query
        .strip_prefix("n=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let (mut tx, body) = stream::<String>();
    spin_sdk::wasip3::spawn(async move {
        for i in 1..=n {
            if tx.send(format!("line {i}\n")).await.is_err() {
                break;
            }
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("x-lines", n.to_string())
        .body(box_body(body))?)
}

async fn outbound(url: &str) -> anyhow::Result<Response<BoxBody>> {
    match spin_sdk::http::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.into_body().bytes().await?;
            text(200, format!("{status} {}", String::from_utf8_lossy(&body)))
        }
        Err(e) => text(502, format!("outbound request failed: {e:?}")),
    }
}
