//! The `echo` app on spin-sdk 7 (a WASI 0.3 component): what the runtime told it, the
//! `spin-*` headers, the method and the body, and the component's `COMPONENT` environment
//! variable, one `name: value` per line, as `echo` answers.
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let component = std::env::var("COMPONENT").unwrap_or_default();
    let mut lines = vec![
        format!("component: {component}"),
        format!("method: {}", req.method()),
    ];
    let mut spin: Vec<_> = req
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("spin-"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("<binary>")))
        .collect();
    spin.sort();
    lines.extend(spin);
    let body = req.into_body().bytes().await?;
    lines.push(format!("body: {}", String::from_utf8_lossy(&body)));
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("x-echo-component", component)
        .body(lines.join("\n") + "\n")?)
}
