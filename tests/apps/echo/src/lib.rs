//! Echoes what the runtime told it: the `spin-*` headers, the method, path and body,
//! and the component's `COMPONENT` environment variable, one `name: value` per line.
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let mut lines = Vec::new();
    lines.push(format!(
        "component: {}",
        std::env::var("COMPONENT").unwrap_or_default()
    ));
    lines.push(format!("method: {:?}", req.method()));
    let mut spin: Vec<_> = req
        .headers()
        .filter(|(name, _)| name.starts_with("spin-"))
        .map(|(name, value)| format!("{name}: {}", value.as_str().unwrap_or("<binary>")))
        .collect();
    spin.sort();
    lines.extend(spin);
    lines.push(format!("body: {}", String::from_utf8_lossy(req.body())));
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header(
            "x-echo-component",
            std::env::var("COMPONENT").unwrap_or_default(),
        )
        .body(lines.join("\n") + "\n")
        .build())
}
