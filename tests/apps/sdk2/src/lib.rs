//! An app on spin-sdk 2.2, as many were written for Spin 2 (it imports WASI
//! 0.2.0-rc-2023-10-18): a greeting from a variable, the request echoed, a streamed response,
//! outbound HTTP and the key-value store.

use futures::SinkExt;
use spin_sdk::http::{
    send, Fields, IncomingRequest, OutgoingResponse, Request, Response, ResponseOutparam,
};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let path = req.path_with_query().unwrap_or_default();
    if let Some(chunks) = path.strip_prefix("/stream?chunks=") {
        let chunks: usize = chunks.parse().unwrap_or(3);
        stream(out, chunks).await;
        return;
    }
    let (status, text) = match answer(req, &path).await {
        Ok(answer) => answer,
        Err(e) => (500, format!("error: {e}\n")),
    };
    let headers = Fields::new(&[("x-sdk".to_string(), b"2.2".to_vec())]);
    let response = OutgoingResponse::new(status, &headers);
    out.set_with_body(response, text.into_bytes())
        .await
        .expect("the response body is written");
}

/// Sets the response head, then writes the body in `chunks` pieces.
async fn stream(out: ResponseOutparam, chunks: usize) {
    let response = OutgoingResponse::new(200, &Fields::new(&[]));
    let mut body = response.take_body();
    out.set(response);
    for i in 0..chunks {
        body.send(format!("chunk {i}\n").into_bytes())
            .await
            .expect("a chunk is written");
    }
}

async fn answer(req: IncomingRequest, path: &str) -> anyhow::Result<(u16, String)> {
    if path == "/echo" {
        let method = req.method();
        let header = req.headers().get(&"x-test".to_string());
        let header = header
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let body = req.into_body().await?;
        return Ok((
            200,
            format!(
                "{method} x-test={} {} bytes: {}",
                header.unwrap_or_default(),
                body.len(),
                String::from_utf8_lossy(&body)
            ),
        ));
    }
    // A POST's body is written before the response is awaited (the SDK's order), so a refusal
    // shows as the body stream closing; a GET gets the handler's own error.
    // `connection` is a header WASI 0.2 does not let a guest set; the release candidate did,
    // so apps set it: the request must go out without it rather than fail.
    let outbound = if let Some(url) = path.strip_prefix("/outbound?url=") {
        Some(Request::get(url).header("connection", "keep-alive").build())
    } else {
        path.strip_prefix("/outbound-post?url=")
            .map(|url| Request::post(url, "ping from sdk2").build())
    };
    if let Some(request) = outbound {
        let sent: Result<Response, _> = send(request).await;
        return Ok(match sent {
            Ok(response) => (
                200,
                format!(
                    "upstream {}: {}",
                    response.status(),
                    String::from_utf8_lossy(response.body())
                ),
            ),
            Err(e) => (502, format!("outbound failed: {e}")),
        });
    }
    if path == "/kv" {
        let store = Store::open_default()?;
        let visits = match store.get("visits")? {
            Some(v) => String::from_utf8(v)?.parse::<u32>()? + 1,
            None => 1,
        };
        store.set("visits", visits.to_string().as_bytes())?;
        return Ok((200, format!("visits: {visits}\n")));
    }
    let greeting = spin_sdk::variables::get("greeting")?;
    Ok((200, format!("{greeting} from {path}\n")))
}
