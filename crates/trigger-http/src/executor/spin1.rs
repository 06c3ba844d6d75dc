//! The Spin 1 executor: `fermyon:spin/inbound-http`, which Spin 1 modules (Spin 1's SDKs, the Go
//! SDK v2 that TinyGo apps use) export once componentized. The guest gets the whole request
//! and answers with a whole response, as on Spin.

use hyper::{Method as HttpMethod, Request, Response, StatusCode};
use spinrt_engine::host::spin1::bindings::Spin1HttpTriggerPre;
use spinrt_engine::host::spin1::bindings::fermyon::spin::http_types::{
    Method, Request as GuestRequest, Response as GuestResponse,
};
use spinrt_engine::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use spinrt_engine::{InstanceState, LoadedComponent};

use spinrt_telemetry::traces::TraceContext;

use super::GuestError;
use crate::body;

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
        trace: Option<&TraceContext>,
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
        let body = match body::read_whole(id, &parts, body, component.max_memory()).await? {
            Ok(body) => body,
            Err(too_large) => return Ok(too_large),
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
            body: Some(body.to_vec()),
        };
        let mut store = super::request_store(component, trace)?;
        let guest = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| GuestError(format!("component '{id}' failed to start: {e:?}")))?;
        let response = guest
            .fermyon_spin_inbound_http()
            .call_handle_request(&mut store, &request)
            .await
            .map_err(|e| {
                spinrt_engine::count_if_trap(id, &e);
                GuestError(format!("component '{id}' failed: {e:?}"))
            })?;
        to_response(id, response)
    }
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
