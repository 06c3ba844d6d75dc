//! `fermyon:spin/http`: Spin 1's outbound HTTP, a whole request for a whole response, under the
//! component's `allowed_outbound_hosts`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::default_send_request;

use super::bindings::fermyon::spin::http::{self, HttpError, Request, Response};
use super::bindings::fermyon::spin::http_types::{self, Method};
use crate::host::http::OutboundHttp;

impl http_types::Host for OutboundHttp {}

impl http::Host for OutboundHttp {
    async fn send_request(&mut self, request: Request) -> Result<Response, HttpError> {
        let uri: ::http::Uri = request.uri.parse().map_err(|_| HttpError::InvalidUrl)?;
        if uri.host().is_none() {
            return Err(HttpError::InvalidUrl);
        }
        if !self.allows(&uri) {
            return Err(HttpError::DestinationNotAllowed);
        }
        let mut builder = ::http::Request::builder()
            .method(method(request.method))
            .uri(uri);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let body = Full::new(Bytes::from(request.body.unwrap_or_default()))
            .map_err(|never| match never {});
        let request = builder.body(body).map_err(|_| HttpError::RequestError)?;

        let (response, io) = default_send_request(request, None)
            .await
            .map_err(|e| self.failed(e))?;
        // The connection runs beside the body until both are done.
        let io = tokio::spawn(io);
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| self.failed(e))?.to_bytes();
        io.abort();
        let headers = parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: Some(headers),
            body: Some(body.to_vec()),
        })
    }
}

impl OutboundHttp {
    fn failed(&self, e: wasmtime_wasi_http::Error) -> HttpError {
        log::info!("{}: outbound request failed: {e:?}", self.component());
        HttpError::RequestError
    }
}

fn method(method: Method) -> ::http::Method {
    match method {
        Method::Get => ::http::Method::GET,
        Method::Post => ::http::Method::POST,
        Method::Put => ::http::Method::PUT,
        Method::Delete => ::http::Method::DELETE,
        Method::Patch => ::http::Method::PATCH,
        Method::Head => ::http::Method::HEAD,
        Method::Options => ::http::Method::OPTIONS,
    }
}
