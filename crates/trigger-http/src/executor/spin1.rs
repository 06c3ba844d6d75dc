//! The Spin 1 executor: `fermyon:spin/inbound-http`, which Spin 1 modules (Spin 1's SDKs, the Go
//! SDK v2 that TinyGo apps use) export once componentized. The guest gets the whole request
//! and answers with a whole response, as on Spin.

use http_body_util::BodyExt;
use hyper::{Method as HttpMethod, Request, Response, StatusCode};
use spinrt_engine::host::spin1::bindings::Spin1HttpTriggerPre;
use spinrt_engine::host::spin1::bindings::fermyon::spin::http_types::{
    Method, Request as GuestRequest, Response as GuestResponse,
};
use spinrt_engine::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use spinrt_engine::{InstanceState, LoadedComponent};

use super::GuestError;
use crate::body;

/// The most of a request body this process holds for a Spin 1 guest, which takes it whole:
/// its memory cap, which by default is all of a 32-bit memory, is too much for one request to
/// make the server buffer.
const WHOLE_BODY_LIMIT: usize = 256 << 20;

pub struct Spin1Executor {
    pre: Spin1HttpTriggerPre<InstanceState>,
}

impl Spin1Executor {
    /// The executor, if the component exports `fermyon:spin/inbound-http`.
    pub fn new(component: &LoadedComponent) -> Option<Self> {
        Spin1HttpTriggerPre::new(component.instance_pre().clone())
            .ok()
            .map(|pre| Self { pre })
    }

    pub async fn execute<B>(
        &self,
        component: &LoadedComponent,
        req: Request<B>,
    ) -> Result<Response<HyperOutgoingBody>, GuestError>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<spinrt_engine::wasmtime_wasi_http::Error>,
    {
        let id = component.id();
        let Some(method) = method(req.method()) else {
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            return Ok(response);
        };
        let (parts, body) = req.into_parts();
        let limit = component.max_memory().min(WHOLE_BODY_LIMIT);
        let declared = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let body = match declared {
            Some(length) if length > limit as u64 => None,
            _ => read_body(body, limit).await?,
        };
        let Some(body) = body else {
            log::debug!("component '{id}': request body over {limit} bytes refused with 413");
            let mut response = Response::new(body::full(format!(
                "request body larger than the {limit} bytes a Spin 1 component can take whole \
                 (its memory limit)\n"
            )));
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(response);
        };
        let request = GuestRequest {
            method,
            uri: parts
                .uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.to_string()),
            // Headers that are not text cannot be passed; Spin leaves them out too.
            headers: parts
                .headers
                .iter()
                .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            // Spin 1's `params` was never filled in; the body is always present, as on Spin.
            params: Vec::new(),
            body: Some(body),
        };
        let mut store = component
            .new_store()
            .map_err(|e| GuestError(e.to_string()))?;
        let guest = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| GuestError(format!("component '{id}' failed to start: {e:?}")))?;
        let response = guest
            .fermyon_spin_inbound_http()
            .call_handle_request(&mut store, &request)
            .await
            .map_err(|e| GuestError(format!("component '{id}' failed: {e:?}")))?;
        to_response(id, response)
    }
}

/// The whole request body, or `None` once it passes `limit`. Spin 1 guests take the body as one
/// list in their memory, so a body larger than that memory can never be passed; it is refused
/// as it arrives rather than buffered on the host first.
async fn read_body<B>(body: B, limit: usize) -> Result<Option<Vec<u8>>, GuestError>
where
    B: hyper::body::Body<Data = bytes::Bytes>,
    B::Error: Into<spinrt_engine::wasmtime_wasi_http::Error>,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| GuestError(format!("reading the request body: {:?}", e.into())))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Ok(None);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Some(bytes))
}

fn method(method: &HttpMethod) -> Option<Method> {
    Some(match *method {
        HttpMethod::GET => Method::Get,
        HttpMethod::POST => Method::Post,
        HttpMethod::PUT => Method::Put,
        HttpMethod::DELETE => Method::Delete,
        HttpMethod::PATCH => Method::Patch,
        HttpMethod::HEAD => Method::Head,
        HttpMethod::OPTIONS => Method::Options,
        _ => return None,
    })
}

fn to_response(
    id: &str,
    response: GuestResponse,
) -> Result<Response<HyperOutgoingBody>, GuestError> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in response.headers.unwrap_or_default() {
        builder = builder.header(name, value);
    }
    builder
        .body(body::full(response.body.unwrap_or_default()))
        .map_err(|e| {
            GuestError(format!(
                "component '{id}' answered an invalid response: {e}"
            ))
        })
}
