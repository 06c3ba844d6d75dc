//! `wasi:http` types and outgoing handler of the release candidate, over WASI 0.2's.
//!
//! Where the two differ: the release candidate builds requests and responses in their
//! constructors from borrowed headers (0.2 takes owned headers and has setters), its header
//! calls cannot fail, its error is a four-case variant instead of 0.2's `error-code`, its
//! request options are a record instead of a resource, and trailers are never absent.
//! Header calls a guest could not see fail: a header 0.2 forbids a guest to set (`host`,
//! `connection`, ...) is left out, as the host sets those itself; a malformed one traps with
//! its name, since the guest has no way to hear of it.

use std::time::Duration;

use wasmtime::component::Resource;
use wasmtime::format_err;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable};
use wasmtime_wasi_http::p2::bindings::http::{outgoing_handler as p2_outgoing, types as p2};
use wasmtime_wasi_http::p2::body::{HostFutureTrailers, HostIncomingBody, HostOutgoingBody};
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, HostIncomingRequest, HostIncomingResponse, HostOutgoingRequest,
    HostOutgoingResponse, HostResponseOutparam,
};
use wasmtime_wasi_http::p2::{HeaderResult, HttpResult};
use wasmtime_wasi_http::{FieldMap, RequestOptions as HostRequestOptions, WasiHttpCtxView};

use super::bindings::wasi::http::outgoing_handler;
use super::bindings::wasi::http::types::{self, Error, Method, RequestOptions, Scheme};

type Fields = Resource<FieldMap>;

impl types::Host for WasiHttpCtxView<'_> {}

impl types::HostFields for WasiHttpCtxView<'_> {
    fn new(&mut self, entries: Vec<(String, Vec<u8>)>) -> wasmtime::Result<Fields> {
        let fields = p2::HostFields::new(self)?;
        for (name, value) in entries {
            let appended = p2::HostFields::append(
                self,
                Resource::new_borrow(fields.rep()),
                name.clone(),
                value,
            );
            header_outcome(self, "fields", &name, appended)?;
        }
        Ok(fields)
    }

    fn get(&mut self, fields: Fields, name: String) -> wasmtime::Result<Vec<Vec<u8>>> {
        p2::HostFields::get(self, fields, name)
    }

    fn set(&mut self, fields: Fields, name: String, values: Vec<Vec<u8>>) -> wasmtime::Result<()> {
        let set = p2::HostFields::set(self, fields, name.clone(), values);
        header_outcome(self, "fields.set", &name, set)
    }

    fn delete(&mut self, fields: Fields, name: String) -> wasmtime::Result<()> {
        let deleted = p2::HostFields::delete(self, fields, name.clone());
        header_outcome(self, "fields.delete", &name, deleted)
    }

    fn append(&mut self, fields: Fields, name: String, value: Vec<u8>) -> wasmtime::Result<()> {
        let appended = p2::HostFields::append(self, fields, name.clone(), value);
        header_outcome(self, "fields.append", &name, appended)
    }

    fn entries(&mut self, fields: Fields) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        p2::HostFields::entries(self, fields)
    }

    fn clone(&mut self, fields: Fields) -> wasmtime::Result<Fields> {
        p2::HostFields::clone(self, fields)
    }

    fn drop(&mut self, fields: Fields) -> wasmtime::Result<()> {
        p2::HostFields::drop(self, fields)
    }
}

/// What a header call that cannot fail in the release candidate does with 0.2's refusal.
fn header_outcome(
    http: &mut WasiHttpCtxView<'_>,
    call: &str,
    name: &str,
    outcome: HeaderResult<()>,
) -> wasmtime::Result<()> {
    let Err(e) = outcome else { return Ok(()) };
    match p2::Host::convert_header_error(http, e)? {
        p2::HeaderError::Forbidden => {
            log::debug!("{call}: header '{name}' left out: the host sets it");
            Ok(())
        }
        e => Err(format_err!("{call}: header '{name}' refused: {e:?}")),
    }
}

impl types::HostIncomingRequest for WasiHttpCtxView<'_> {
    fn method(&mut self, request: Resource<HostIncomingRequest>) -> wasmtime::Result<Method> {
        p2::HostIncomingRequest::method(self, request).map(method_from_p2)
    }

    fn path_with_query(
        &mut self,
        request: Resource<HostIncomingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        p2::HostIncomingRequest::path_with_query(self, request)
    }

    fn scheme(
        &mut self,
        request: Resource<HostIncomingRequest>,
    ) -> wasmtime::Result<Option<Scheme>> {
        Ok(p2::HostIncomingRequest::scheme(self, request)?.map(scheme_from_p2))
    }

    fn authority(
        &mut self,
        request: Resource<HostIncomingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        p2::HostIncomingRequest::authority(self, request)
    }

    fn headers(&mut self, request: Resource<HostIncomingRequest>) -> wasmtime::Result<Fields> {
        p2::HostIncomingRequest::headers(self, request)
    }

    fn consume(
        &mut self,
        request: Resource<HostIncomingRequest>,
    ) -> wasmtime::Result<Result<Resource<HostIncomingBody>, ()>> {
        p2::HostIncomingRequest::consume(self, request)
    }

    fn drop(&mut self, request: Resource<HostIncomingRequest>) -> wasmtime::Result<()> {
        p2::HostIncomingRequest::drop(self, request)
    }
}

impl types::HostOutgoingRequest for WasiHttpCtxView<'_> {
    fn new(
        &mut self,
        method: Method,
        path_with_query: Option<String>,
        scheme: Option<Scheme>,
        authority: Option<String>,
        headers: Fields,
    ) -> wasmtime::Result<Resource<HostOutgoingRequest>> {
        let headers = p2::HostFields::clone(self, headers)?;
        let request = p2::HostOutgoingRequest::new(self, headers)?;
        let borrow = || Resource::new_borrow(request.rep());
        let method_name = format!("{method:?}");
        p2::HostOutgoingRequest::set_method(self, borrow(), method_to_p2(method))?
            .map_err(|()| format_err!("outgoing-request: invalid method {method_name}"))?;
        p2::HostOutgoingRequest::set_path_with_query(self, borrow(), path_with_query.clone())?
            .map_err(|()| format_err!("outgoing-request: invalid path {path_with_query:?}"))?;
        p2::HostOutgoingRequest::set_scheme(self, borrow(), scheme.map(scheme_to_p2))?
            .map_err(|()| format_err!("outgoing-request: invalid scheme"))?;
        p2::HostOutgoingRequest::set_authority(self, borrow(), authority.clone())?
            .map_err(|()| format_err!("outgoing-request: invalid authority {authority:?}"))?;
        Ok(request)
    }

    fn write(
        &mut self,
        request: Resource<HostOutgoingRequest>,
    ) -> wasmtime::Result<Result<Resource<HostOutgoingBody>, ()>> {
        p2::HostOutgoingRequest::body(self, request)
    }

    fn drop(&mut self, request: Resource<HostOutgoingRequest>) -> wasmtime::Result<()> {
        p2::HostOutgoingRequest::drop(self, request)
    }
}

impl types::HostResponseOutparam for WasiHttpCtxView<'_> {
    fn set(
        &mut self,
        param: Resource<HostResponseOutparam>,
        response: Result<Resource<HostOutgoingResponse>, Error>,
    ) -> wasmtime::Result<()> {
        // The guest's own error: the caller answers 500 and logs it, so its words are kept.
        let response = response.map_err(|e| p2::ErrorCode::InternalError(Some(format!("{e:?}"))));
        p2::HostResponseOutparam::set(self, param, response)
    }

    fn drop(&mut self, param: Resource<HostResponseOutparam>) -> wasmtime::Result<()> {
        p2::HostResponseOutparam::drop(self, param)
    }
}

impl types::HostIncomingResponse for WasiHttpCtxView<'_> {
    fn status(&mut self, response: Resource<HostIncomingResponse>) -> wasmtime::Result<u16> {
        p2::HostIncomingResponse::status(self, response)
    }

    fn headers(&mut self, response: Resource<HostIncomingResponse>) -> wasmtime::Result<Fields> {
        p2::HostIncomingResponse::headers(self, response)
    }

    fn consume(
        &mut self,
        response: Resource<HostIncomingResponse>,
    ) -> wasmtime::Result<Result<Resource<HostIncomingBody>, ()>> {
        p2::HostIncomingResponse::consume(self, response)
    }

    fn drop(&mut self, response: Resource<HostIncomingResponse>) -> wasmtime::Result<()> {
        p2::HostIncomingResponse::drop(self, response)
    }
}

impl types::HostIncomingBody for WasiHttpCtxView<'_> {
    fn stream(
        &mut self,
        body: Resource<HostIncomingBody>,
    ) -> wasmtime::Result<Result<Resource<DynInputStream>, ()>> {
        p2::HostIncomingBody::stream(self, body)
    }

    fn finish(
        &mut self,
        body: Resource<HostIncomingBody>,
    ) -> wasmtime::Result<Resource<HostFutureTrailers>> {
        p2::HostIncomingBody::finish(self, body)
    }

    fn drop(&mut self, body: Resource<HostIncomingBody>) -> wasmtime::Result<()> {
        p2::HostIncomingBody::drop(self, body)
    }
}

impl types::HostFutureTrailers for WasiHttpCtxView<'_> {
    fn subscribe(
        &mut self,
        trailers: Resource<HostFutureTrailers>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        p2::HostFutureTrailers::subscribe(self, trailers)
    }

    fn get(
        &mut self,
        trailers: Resource<HostFutureTrailers>,
    ) -> wasmtime::Result<Option<Result<Fields, Error>>> {
        Ok(match p2::HostFutureTrailers::get(self, trailers)? {
            None => None,
            Some(Ok(Ok(Some(fields)))) => Some(Ok(fields)),
            // The release candidate has no "no trailers": an empty set says the same.
            Some(Ok(Ok(None))) => Some(Ok(p2::HostFields::new(self)?)),
            Some(Ok(Err(code))) => Some(Err(error_from_p2(code))),
            Some(Err(())) => {
                return Err(format_err!("future-trailers.get: trailers already taken"));
            }
        })
    }

    fn drop(&mut self, trailers: Resource<HostFutureTrailers>) -> wasmtime::Result<()> {
        p2::HostFutureTrailers::drop(self, trailers)
    }
}

impl types::HostOutgoingResponse for WasiHttpCtxView<'_> {
    fn new(
        &mut self,
        status: u16,
        headers: Fields,
    ) -> wasmtime::Result<Resource<HostOutgoingResponse>> {
        let headers = p2::HostFields::clone(self, headers)?;
        let response = p2::HostOutgoingResponse::new(self, headers)?;
        p2::HostOutgoingResponse::set_status_code(
            self,
            Resource::new_borrow(response.rep()),
            status,
        )?
        .map_err(|()| format_err!("outgoing-response: invalid status code {status}"))?;
        Ok(response)
    }

    fn write(
        &mut self,
        response: Resource<HostOutgoingResponse>,
    ) -> wasmtime::Result<Result<Resource<HostOutgoingBody>, ()>> {
        p2::HostOutgoingResponse::body(self, response)
    }

    fn drop(&mut self, response: Resource<HostOutgoingResponse>) -> wasmtime::Result<()> {
        p2::HostOutgoingResponse::drop(self, response)
    }
}

impl types::HostOutgoingBody for WasiHttpCtxView<'_> {
    fn write(
        &mut self,
        body: Resource<HostOutgoingBody>,
    ) -> wasmtime::Result<Result<Resource<DynOutputStream>, ()>> {
        p2::HostOutgoingBody::write(self, body)
    }

    /// 0.2 checks here that the body matched its `content-length`; the release candidate
    /// gives no way to say it did not, so a mismatch traps with the reason.
    fn finish(
        &mut self,
        body: Resource<HostOutgoingBody>,
        trailers: Option<Fields>,
    ) -> wasmtime::Result<()> {
        let finished = p2::HostOutgoingBody::finish(self, body, trailers);
        http_outcome(self, finished)
            .and_then(|r| r.map_err(|code| format_err!("outgoing-body.finish: {code:?}")))
    }

    fn drop(&mut self, body: Resource<HostOutgoingBody>) -> wasmtime::Result<()> {
        p2::HostOutgoingBody::drop(self, body)
    }
}

impl types::HostFutureIncomingResponse for WasiHttpCtxView<'_> {
    fn get(
        &mut self,
        response: Resource<HostFutureIncomingResponse>,
    ) -> wasmtime::Result<Option<Result<Result<Resource<HostIncomingResponse>, Error>, ()>>> {
        Ok(p2::HostFutureIncomingResponse::get(self, response)?
            .map(|taken| taken.map(|r| r.map_err(error_from_p2))))
    }

    fn subscribe(
        &mut self,
        response: Resource<HostFutureIncomingResponse>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        p2::HostFutureIncomingResponse::subscribe(self, response)
    }

    fn drop(&mut self, response: Resource<HostFutureIncomingResponse>) -> wasmtime::Result<()> {
        p2::HostFutureIncomingResponse::drop(self, response)
    }
}

impl outgoing_handler::Host for WasiHttpCtxView<'_> {
    fn handle(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        options: Option<RequestOptions>,
    ) -> wasmtime::Result<Result<Resource<HostFutureIncomingResponse>, Error>> {
        let options = match options {
            Some(o) => {
                let ms = |t: Option<u32>| t.map(|ms| Duration::from_millis(ms.into()));
                Some(self.table.push(HostRequestOptions {
                    connect_timeout: ms(o.connect_timeout_ms),
                    first_byte_timeout: ms(o.first_byte_timeout_ms),
                    between_bytes_timeout: ms(o.between_bytes_timeout_ms),
                })?)
            }
            None => None,
        };
        let sent = p2_outgoing::Host::handle(self, request, options);
        Ok(http_outcome(self, sent)?.map_err(error_from_p2))
    }
}

/// 0.2's trappable HTTP error as the guest's error code, or the trap it is.
fn http_outcome<T>(
    http: &mut WasiHttpCtxView<'_>,
    outcome: HttpResult<T>,
) -> wasmtime::Result<Result<T, p2::ErrorCode>> {
    match outcome {
        Ok(value) => Ok(Ok(value)),
        Err(e) => Ok(Err(p2::Host::convert_error_code(http, e)?)),
    }
}

/// 0.2's error code in the release candidate's four cases; the code's name stays in the text.
fn error_from_p2(code: p2::ErrorCode) -> Error {
    use p2::ErrorCode as C;
    let text = match &code {
        C::HttpRequestDenied => {
            "HttpRequestDenied: the destination is not in the component's allowed_outbound_hosts"
                .to_string()
        }
        other => format!("{other:?}"),
    };
    match code {
        C::HttpRequestUriInvalid => Error::InvalidUrl(text),
        C::DnsTimeout
        | C::ConnectionTimeout
        | C::ConnectionReadTimeout
        | C::ConnectionWriteTimeout
        | C::HttpResponseTimeout => Error::TimeoutError(text),
        C::HttpProtocolError
        | C::HttpResponseIncomplete
        | C::HttpRequestMethodInvalid
        | C::HttpResponseHeaderSectionSize(_)
        | C::HttpResponseHeaderSize(_)
        | C::HttpResponseBodySize(_)
        | C::HttpResponseTransferCoding(_)
        | C::HttpResponseContentCoding(_) => Error::ProtocolError(text),
        _ => Error::UnexpectedError(text),
    }
}

fn method_from_p2(method: p2::Method) -> Method {
    match method {
        p2::Method::Get => Method::Get,
        p2::Method::Head => Method::Head,
        p2::Method::Post => Method::Post,
        p2::Method::Put => Method::Put,
        p2::Method::Delete => Method::Delete,
        p2::Method::Connect => Method::Connect,
        p2::Method::Options => Method::Options,
        p2::Method::Trace => Method::Trace,
        p2::Method::Patch => Method::Patch,
        p2::Method::Other(m) => Method::Other(m),
    }
}

fn method_to_p2(method: Method) -> p2::Method {
    match method {
        Method::Get => p2::Method::Get,
        Method::Head => p2::Method::Head,
        Method::Post => p2::Method::Post,
        Method::Put => p2::Method::Put,
        Method::Delete => p2::Method::Delete,
        Method::Connect => p2::Method::Connect,
        Method::Options => p2::Method::Options,
        Method::Trace => p2::Method::Trace,
        Method::Patch => p2::Method::Patch,
        Method::Other(m) => p2::Method::Other(m),
    }
}

fn scheme_from_p2(scheme: p2::Scheme) -> Scheme {
    match scheme {
        p2::Scheme::Http => Scheme::Http,
        p2::Scheme::Https => Scheme::Https,
        p2::Scheme::Other(s) => Scheme::Other(s),
    }
}

fn scheme_to_p2(scheme: Scheme) -> p2::Scheme {
    match scheme {
        Scheme::Http => p2::Scheme::Http,
        Scheme::Https => p2::Scheme::Https,
        Scheme::Other(s) => p2::Scheme::Other(s),
    }
}
