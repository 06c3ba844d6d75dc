//! `wasi:http` 0.2 and 0.3: the types and the outgoing handler (0.3's `client`), under
//! `allowed_outbound_hosts`; both versions send through [`OutboundHttp`].
//!
//! A request to a host the component may not reach is refused with `HTTP-request-denied`
//! before any connection is made.

use std::future::Future;
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use spinrt_telemetry::traces::TraceContext;

use super::outbound::OutboundPolicy;
use crate::InstanceState;

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)
}

/// Per-instance outbound HTTP: the component's policy, and the trace its requests join.
pub struct OutboundHttp {
    component: String,
    policy: Arc<OutboundPolicy>,
    pub(crate) trace: Option<TraceContext>,
}

impl OutboundHttp {
    pub(crate) fn new(component: &str, policy: Arc<OutboundPolicy>) -> Self {
        Self {
            component: component.to_string(),
            policy,
            trace: None,
        }
    }

    pub(crate) fn component(&self) -> &str {
        &self.component
    }

    /// Whether `uri` may be reached (a scheme-less one counts as https); a refusal is logged.
    pub(crate) fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https");
        let allowed = uri
            .host()
            .is_some_and(|host| self.policy.allows(scheme, host, uri.port_u16()));
        if !allowed {
            log::warn!(
                "component '{}': outbound request to {uri} denied: not in allowed_outbound_hosts",
                self.component,
            );
        }
        allowed
    }
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
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        if !self.allows(request.uri()) {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let span = self
            .trace
            .as_ref()
            .map(|t| t.outbound_request(&mut request));
        Box::new(async move {
            use http_body_util::BodyExt;
            let sent = wasmtime_wasi_http::default_send_request(request, options).await;
            if let Some(span) = span {
                span.finish(match &sent {
                    Ok((response, _)) => Ok(response.status().as_u16()),
                    Err(e) => Err(format!("{e:?}")),
                });
            }
            let (response, io) = sent?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
