//! The `wasi:http/handler@0.3.0` executor: WASI 0.3 components (spin-sdk 7 and later).
//!
//! Each request gets a fresh instance, as for 0.2 components and as Spin's own 0.3 executor
//! does: no state of one request is visible to another. (`wasmtime serve` reuses a 0.3
//! instance for up to 128 requests, 16 at a time; Spin keeps that for components that ask to
//! be stateful, which Spin apps do not declare.)
//!
//! A 0.3 guest returns the response head with a body stream it may go on writing from tasks
//! it spawned: the store's event loop runs on in the request's task until the body is done
//! (or dropped by a client that went away) and no guest task is left.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::{Request, Response};
use spinrt_engine::wasmtime_wasi_http::WasiHttpView;
use spinrt_engine::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use spinrt_engine::wasmtime_wasi_http::p3::Request as GuestRequest;
use spinrt_engine::wasmtime_wasi_http::p3::bindings::ServicePre;
use spinrt_engine::{InstanceState, LoadedComponent};
use tokio::sync::oneshot;

use spinrt_telemetry::traces::TraceContext;

use super::{GuestError, GuestTask};

pub struct WasiHttp3Executor {
    pre: ServicePre<InstanceState>,
}

impl WasiHttp3Executor {
    /// The executor, or why the component exports no `wasi:http/handler@0.3.0`.
    pub fn new(component: &LoadedComponent) -> Result<Self, String> {
        ServicePre::new(component.instance_pre().clone())
            .map(|pre| Self { pre })
            .map_err(|e| format!("{e:#}"))
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
        let (request, request_io) = GuestRequest::from_http(store.data_mut().http().hooks, req);
        let pre = self.pre.clone();
        let (response_tx, response_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let service = pre.instantiate_async(&mut store).await?;
            store
                .run_concurrent(async move |accessor| {
                    match service.handle(accessor, request).await? {
                        Ok(response) => {
                            let response =
                                accessor.with(|store| response.into_http(store, request_io))?;
                            let (done_tx, done_rx) = oneshot::channel::<()>();
                            let response = response.map(|body| {
                                NotifyOnDrop {
                                    body,
                                    _done: done_tx,
                                }
                                .boxed_unsync()
                            });
                            // Whether hyper reads it or the send fails, the body goes, and
                            // with it the sender.
                            if response_tx.send(Ok(response)).is_ok() {
                                let _ = done_rx.await;
                            }
                        }
                        Err(code) => {
                            let _ = response_tx.send(Err(code));
                        }
                    }
                    std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                    wasmtime::Result::Ok(())
                })
                .await?
        });
        GuestTask::new(task)
            .response(response_rx, id, "returned an error instead of a response")
            .await
    }
}

/// The guest's response body, which tells the request's task when it is done with (read to
/// the end, or dropped): until then that task keeps the guest's store running.
struct NotifyOnDrop {
    body: HyperOutgoingBody,
    _done: oneshot::Sender<()>,
}

impl Body for NotifyOnDrop {
    type Data = bytes::Bytes;
    type Error = spinrt_engine::wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
