//! A Spin 1 module: what Spin 1's SDKs and the Go SDK v2 (TinyGo) build, bindings and all.
//!
//! No SDK on crates.io builds for Spin 1's interfaces (its Rust SDK and wit-bindgen 0.2 were
//! never published there), so this crate writes out what their generated bindings contain: the
//! `handle-http-request` export, the `canonical_abi_realloc`/`canonical_abi_free` allocator, and
//! imports of `spin-config`, `wasi-outbound-http`, `key-value`, `sqlite`, `outbound-redis`,
//! `outbound-pg`, `outbound-mysql` and `llm`, each in the
//! canonical ABI's flat form with results read from a return area. Only the `wasm32-wasip1`
//! build is a Spin 1 module; for `wasm32-wasip2` the crate is empty.

#![cfg(all(target_os = "wasi", target_env = "p1"))]

mod abi;

use abi::{Request, Response};

/// Routes by path: `/config`, `/echo`, `/outbound?url=URL`, `/kv`, `/sqlite`,
/// `/redis?address=ADDR`, `/pg?address=ADDR`, `/mysql?address=ADDR`, `/llm`.
fn handle(request: Request) -> Response {
    let (path, query) = match request.uri.split_once('?') {
        Some((path, query)) => (path, query),
        None => (request.uri.as_str(), ""),
    };
    let path = path.rsplit('/').next().unwrap_or_default();
    match path {
        "config" => match abi::get_config("greeting") {
            Ok(value) => Response::text(200, format!("greeting={value}")),
            Err(e) => Response::text(500, format!("config error: {e}")),
        },
        "echo" => {
            let info = request
                .headers
                .iter()
                .find(|(name, _)| name == "spin-path-info")
                .map_or("", |(_, value)| value.as_str());
            let body = String::from_utf8_lossy(request.body.as_deref().unwrap_or_default());
            Response::text(
                200,
                format!("method={} path-info={info} body={body}", request.method),
            )
        }
        "outbound" => {
            let url = query.strip_prefix("url=").unwrap_or_default();
            match abi::send_get(url) {
                Ok((status, body)) => Response::text(
                    200,
                    format!("upstream {status}: {}", String::from_utf8_lossy(&body)),
                ),
                Err(code) => Response::text(502, format!("http-error {code}")),
            }
        }
        "kv" => match abi::count_visit() {
            Ok(visits) => Response::text(200, format!("visits={visits}")),
            Err(e) => Response::text(500, format!("key-value error: {e}")),
        },
        "sqlite" => match abi::sqlite_add_one(41) {
            Ok(n) => Response::text(200, format!("sqlite={n}")),
            Err(e) => Response::text(500, format!("sqlite error: {e}")),
        },
        "pg" | "mysql" => {
            let address = query.strip_prefix("address=").unwrap_or_default();
            let statement = if path == "pg" {
                "SELECT $1::int4 + 1 AS n"
            } else {
                "SELECT ? + 1 AS n"
            };
            match abi::rdbms_query(path, address, statement, 41) {
                Ok((column, value)) => Response::text(200, format!("{path} {column}={value}")),
                Err(e) => Response::text(502, format!("{path} error: {e}")),
            }
        }
        "llm" => match abi::llm_infer("llama2-chat", "hi") {
            Ok(text) => Response::text(200, text),
            Err(e) => Response::text(403, format!("llm error: {e}")),
        },
        "redis" => {
            let address = query.strip_prefix("address=").unwrap_or_default();
            match abi::redis_incr(address, "spin1-counter") {
                Ok(n) => Response::text(200, format!("counter={n}")),
                Err(()) => Response::text(502, "redis error".to_string()),
            }
        }
        _ => Response::text(404, format!("no route for {}", request.uri)),
    }
}
