//! Serves the file named by the request's path-info from the component's own filesystem:
//! the files `spin.toml` gave it, and nothing else. With `x-stat: size` it answers the file's
//! size instead (for files too large to read into a guest).
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path = req
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .unwrap_or("/")
        .to_string();
    if req.header("x-stat").is_some() {
        return Ok(match std::fs::metadata(&path) {
            Ok(meta) => Response::builder()
                .status(200)
                .body(format!("{}\n", meta.len()))
                .build(),
            Err(e) => Response::builder()
                .status(404)
                .body(format!("{path}: {e}\n"))
                .build(),
        });
    }
    Ok(match std::fs::read(&path) {
        Ok(bytes) => Response::builder().status(200).body(bytes).build(),
        Err(e) => Response::builder()
            .status(404)
            .body(format!("{path}: {e}\n"))
            .build(),
    })
}
