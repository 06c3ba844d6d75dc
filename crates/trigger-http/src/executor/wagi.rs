//! The WAGI executor (`executor = { type = "wagi" }`): the component is a WASI command run once
//! per request, CGI-style, as Spin runs it. The request reaches it as CGI meta-variables and
//! `HTTP_*` headers in its environment (beside Spin's values under their `X_*` names), the
//! query as arguments, and the body on stdin; it answers on stdout with CGI headers, a blank
//! line and the body.

use std::net::SocketAddr;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use spinrt_app::WagiConfig;
use spinrt_app::routes::RouteMatch;
use spinrt_engine::host::wasi::CgiStdio;
use spinrt_engine::wasmtime_wasi::I32Exit;
use spinrt_engine::wasmtime_wasi::p2::bindings::CommandPre;
use spinrt_engine::wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use spinrt_engine::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use spinrt_engine::{InstanceState, LoadedComponent};

use spinrt_telemetry::traces::TraceContext;

use super::GuestError;
use crate::{body, headers};

/// CGI's `GATEWAY_INTERFACE` and `SERVER_SOFTWARE`, as WAGI sets them.
const GATEWAY_INTERFACE: &str = "CGI/1.1";
const SERVER_SOFTWARE: &str = "WAGI/1";

pub struct WagiExecutor {
    pre: CommandPre<InstanceState>,
    argv: String,
}

/// What the server knows of a request beyond the request itself.
pub struct RequestContext<'a> {
    pub route: &'a RouteMatch<'a>,
    pub full_url: &'a str,
    pub client_addr: SocketAddr,
}

impl WagiExecutor {
    pub fn new(component: &LoadedComponent, config: &WagiConfig) -> Result<Self, String> {
        let pre = CommandPre::new(component.instance_pre().clone()).map_err(|e| {
            format!(
                "component '{}' is routed with the WAGI executor but is no WASI command: it \
                 exports no wasi:cli/run ({e:#})",
                component.id()
            )
        })?;
        Ok(Self {
            pre,
            argv: config.argv.clone(),
        })
    }

    pub async fn execute<B>(
        &self,
        component: &LoadedComponent,
        req: Request<B>,
        context: RequestContext<'_>,
        trace: Option<&TraceContext>,
    ) -> Result<Response<HyperOutgoingBody>, GuestError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<spinrt_engine::wasmtime_wasi_http::Error>,
    {
        let id = component.id();
        let (parts, body) = req.into_parts();
        let body = match body::read_whole(id, &parts, body, component.max_memory()).await? {
            Ok(body) => body,
            Err(too_large) => return Ok(too_large),
        };
        // The guest's answer is held whole too, up to what its memory could have held.
        let stdout = MemoryOutputPipe::new(body::whole_limit(component.max_memory()));
        let cgi = CgiStdio {
            args: self.args(&parts),
            env: environment(&parts, body.len(), &context),
            stdin: body,
            stdout: stdout.clone(),
        };
        let mut store = component
            .new_cgi_store(cgi)
            .map_err(|e| GuestError(e.to_string()))?;
        if let Some(trace) = trace {
            store.data_mut().join_trace(trace.clone());
        }
        let guest = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| GuestError(format!("component '{id}' failed to start: {e:?}")))?;
        match guest.wasi_cli_run().call_run(&mut store).await {
            Ok(Ok(())) => {}
            // Spin answers with what a command that returned an error still wrote.
            Ok(Err(())) => log::info!("component '{id}': the WAGI command reported failure"),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => {}
                Some(I32Exit(code)) => {
                    return Err(GuestError(format!(
                        "component '{id}' (WAGI) exited with status {code}"
                    )));
                }
                None => {
                    spinrt_engine::count_if_trap(id, &e);
                    return Err(GuestError(format!("component '{id}' failed: {e:?}")));
                }
            },
        }
        drop(store);
        let output = stdout.contents();
        if output.is_empty() {
            return Err(GuestError(format!(
                "component '{id}' is routed with the WAGI executor but wrote nothing to stdout \
                 (check the executor in spin.toml)"
            )));
        }
        compose_response(&output).map_err(|e| GuestError(format!("component '{id}' (WAGI): {e}")))
    }

    /// `argv` with `${SCRIPT_NAME}` (the request path) and `${ARGS}` (the query's pairs,
    /// space-separated) substituted, split at spaces, as Spin does.
    fn args(&self, parts: &Parts) -> Vec<String> {
        let args = parts.uri.query().unwrap_or_default().replace('&', " ");
        self.argv
            .replace("${SCRIPT_NAME}", parts.uri.path())
            .replace("${ARGS}", &args)
            .split(' ')
            .map(str::to_string)
            .collect()
    }
}

/// The command's environment: CGI's meta-variables (RFC 3875), the request headers as
/// `HTTP_*` (but `Authorization` and `Connection`, as CGI asks), then Spin's values under
/// their WAGI names, which win where names meet (`PATH_INFO`).
fn environment(
    parts: &Parts,
    content_length: usize,
    context: &RequestContext<'_>,
) -> Vec<(String, String)> {
    let header = |name: http::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    // CGI's server name and port are those the client asked for: the Host header's.
    let host = header(http::header::HOST)
        .parse::<http::uri::Authority>()
        .ok();
    let server_name = host.as_ref().map_or("localhost", |h| h.host()).to_string();
    let server_port = host.and_then(|h| h.port_u16()).unwrap_or(80).to_string();
    let client_ip = context.client_addr.ip().to_string();
    let route = context.route;
    let script_name = route
        .based_route()
        .strip_suffix("/...")
        .unwrap_or(route.based_route());
    let path_info = route.path_info();
    let decoded_path_info = percent_encoding::percent_decode_str(path_info)
        .decode_utf8_lossy()
        .into_owned();
    let mut env: Vec<(String, String)> = [
        ("AUTH_TYPE", String::new()),
        ("CONTENT_LENGTH", content_length.to_string()),
        ("CONTENT_TYPE", header(http::header::CONTENT_TYPE)),
        ("GATEWAY_INTERFACE", GATEWAY_INTERFACE.into()),
        ("QUERY_STRING", parts.uri.query().unwrap_or("").into()),
        ("REMOTE_ADDR", client_ip.clone()),
        ("REMOTE_HOST", client_ip),
        ("REMOTE_USER", String::new()),
        ("REQUEST_METHOD", parts.method.to_string()),
        ("SCRIPT_NAME", script_name.into()),
        ("X_RAW_PATH_INFO", path_info.into()),
        ("PATH_TRANSLATED", decoded_path_info),
        ("SERVER_NAME", server_name),
        ("SERVER_PORT", server_port),
        ("SERVER_PROTOCOL", format!("{:?}", parts.version)),
        ("SERVER_SOFTWARE", SERVER_SOFTWARE.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for name in parts.headers.keys() {
        if name == http::header::AUTHORIZATION || name == http::header::CONNECTION {
            continue;
        }
        // Several fields of one name are one variable, joined as HTTP joins them.
        let value = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let key = format!("HTTP_{}", name.as_str().to_uppercase().replace('-', "_"));
        env.push((key, value));
    }
    for (_, name, value) in headers::spin_values(context.full_url, route, context.client_addr) {
        env.retain(|(k, _)| *k != name);
        env.push((name, value));
    }
    env
}

/// The HTTP response a CGI program wrote: header lines up to the first blank line (`\r` in
/// them ignored), then the body. As in Spin, at least one of `Content-Type`, `Location` or
/// `Status` must be there; `Location` alone makes a 302; a `Status` that is no status code
/// makes a 502.
fn compose_response(output: &[u8]) -> Result<Response<HyperOutgoingBody>, String> {
    let (head, body) = split_head(output);
    let head = std::str::from_utf8(&head).map_err(|_| "CGI headers are not UTF-8".to_string())?;
    let mut response = Response::builder();
    let mut status = None;
    let mut sufficient = false;
    for line in head.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            log::warn!("WAGI: ignoring a header line without ':' ({line:?})");
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        match name.to_ascii_lowercase().as_str() {
            "status" => {
                sufficient = true;
                let code = value.split_once(' ').map_or(value, |(code, _)| code);
                status = Some(code.parse::<StatusCode>().unwrap_or_else(|_| {
                    log::warn!("WAGI: Status '{value}' is no HTTP status code");
                    StatusCode::BAD_GATEWAY
                }));
            }
            lower => {
                if lower == "content-type" || lower == "location" {
                    sufficient = true;
                }
                if lower == "location" && status.is_none() {
                    status = Some(StatusCode::FOUND);
                }
                let name = HeaderName::from_bytes(lower.as_bytes())
                    .map_err(|_| format!("'{name}' is no HTTP header name"))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| format!("header {name}: '{value}' is no HTTP header value"))?;
                response = response.header(name, value);
            }
        }
    }
    if !sufficient {
        return Err(
            "the output names none of Content-Type, Location or Status before a blank line".into(),
        );
    }
    response
        .status(status.unwrap_or(StatusCode::OK))
        .body(body::full(body))
        .map_err(|e| format!("invalid response: {e}"))
}

/// The header block (with `\r` dropped) and the body after the first blank line; all of it is
/// body when there is none, as in Spin.
fn split_head(output: &[u8]) -> (Vec<u8>, Bytes) {
    let mut head = Vec::new();
    let mut last = 0u8;
    for (i, &byte) in output.iter().enumerate() {
        if byte == b'\r' {
            continue;
        }
        if byte == b'\n' && last == b'\n' {
            return (head, Bytes::copy_from_slice(&output[i + 1..]));
        }
        last = byte;
        head.push(byte);
    }
    (Vec::new(), Bytes::copy_from_slice(output))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn compose(output: &str) -> Result<(StatusCode, Vec<(String, String)>, String), String> {
        let response = compose_response(output.as_bytes())?;
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Ok((status, headers, String::from_utf8(body.to_vec()).unwrap()))
    }

    #[tokio::test]
    async fn content_type_and_body() {
        let (status, headers, body) =
            compose("Content-Type: text/plain\r\nX-A: 1\r\n\r\nhi\n\nthere")
                .await
                .unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers,
            [
                ("content-type".into(), "text/plain".into()),
                ("x-a".into(), "1".into())
            ]
        );
        assert_eq!(body, "hi\n\nthere");
    }

    #[tokio::test]
    async fn location_alone_redirects_and_status_wins() {
        let (status, headers, _) = compose("Location: /elsewhere\n\n").await.unwrap();
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(headers, [("location".into(), "/elsewhere".into())]);
        let (status, _, _) = compose("Status: 301 Moved\nLocation: /x\n\n")
            .await
            .unwrap();
        assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
        let (status, _, body) = compose("Status: 404 Not Found\n\ngone").await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, "gone"));
        let (status, _, _) = compose("Status: teapot\n\n").await.unwrap();
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    }

    #[tokio::test]
    async fn output_without_the_headers_cgi_needs_is_refused() {
        for output in [
            "just a body",
            "X-Only: header\n\nbody",
            "Bad Header Name: x\n\n",
        ] {
            assert!(compose(output).await.is_err(), "{output:?}");
        }
    }
}
