//! `wasi:http`: the types and the outgoing handler.
//!
//! Outbound requests are refused with `HTTP-request-denied` until the outbound networking
//! policy (`allowed_outbound_hosts`) is in place: a guest never reaches the network unchecked.

use std::future::Future;

use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::InstanceState;

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// Per-instance outbound HTTP policy.
#[derive(Default)]
pub struct OutboundHttp {
    pub(crate) component: String,
}

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        log::warn!(
            "component '{}': outbound request to {} denied: not in allowed_outbound_hosts",
            self.component,
            request.uri()
        );
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}
