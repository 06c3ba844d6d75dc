//! The `wasi:http/incoming-handler` executor: 0.2.x (spin-sdk 3 and later, and any 0.2 http
//! component) and 0.2.0-rc-2023-10-18 (spin-sdk 2.x). Both take the same request and outparam
//! resources, so only the export called differs.

use hyper::{Request, Response};
use spinrt_engine::host::wasi_2023_10_18::bindings::HttpTrigger20231018Pre;
use spinrt_engine::wasmtime_wasi_http::WasiHttpView;
use spinrt_engine::wasmtime_wasi_http::p2::bindings::ProxyPre;
use spinrt_engine::wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use spinrt_engine::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use spinrt_engine::{InstanceState, LoadedComponent};

use spinrt_telemetry::traces::TraceContext;

use super::{GuestError, GuestTask};

pub struct WasiHttpExecutor {
    handler: Handler,
}

/// Which `incoming-handler` the component exports.
#[derive(Clone)]
enum Handler {
    V0_2(ProxyPre<InstanceState>),
    Rc2023_10_18(HttpTrigger20231018Pre<InstanceState>),
}

impl WasiHttpExecutor {
    /// The executor, or why the component has no `wasi:http/incoming-handler` (0.2's lookup
    /// error, the more telling one).
    pub fn new(component: &LoadedComponent) -> Result<Self, String> {
        let pre = component.instance_pre();
        let handler = match ProxyPre::new(pre.clone()) {
            Ok(v0_2) => Handler::V0_2(v0_2),
            Err(e) => Handler::Rc2023_10_18(
                HttpTrigger20231018Pre::new(pre.clone()).map_err(|_| format!("{e:#}"))?,
            ),
        };
        Ok(Self { handler })
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
        let mut store = super::request_store(component, trace)?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (request, outparam) = {
            let mut http = store.data_mut().http();
            let request = http
                .new_incoming_request(Scheme::Http, req)
                .map_err(|e| GuestError(format!("cannot pass the request to the guest: {e:#}")))?;
            let outparam = http
                .new_response_outparam(sender)
                .map_err(|e| GuestError(format!("cannot create the response: {e:#}")))?;
            (request, outparam)
        };
        let handler = self.handler.clone();
        // The guest runs in its own task: it may keep streaming the body after it has set
        // the response head.
        let task = tokio::spawn(async move {
            match handler {
                Handler::V0_2(pre) => {
                    let proxy = pre.instantiate_async(&mut store).await?;
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, request, outparam)
                        .await
                }
                Handler::Rc2023_10_18(pre) => {
                    let guest = pre.instantiate_async(&mut store).await?;
                    guest
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, request, outparam)
                        .await
                }
            }
        });
        GuestTask::new(task)
            .response(receiver, id, "set an error response")
            .await
    }
}
