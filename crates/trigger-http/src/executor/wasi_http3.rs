//! The `wasi:http/handler@0.3.0` executor: WASI 0.3 components (spin-sdk 7 and later).
//!
//! As in Spin, an instance serves more than one request: wasmtime-wasi-http's `ProxyHandler`
//! hands requests to workers, each owning one store and instance, which take up to
//! [`InstanceReuse`]'s counts of requests (in turn and at once) and end after its idle
//! timeout, a trap, or their last request. A guest's globals are therefore shared by the
//! requests its instance serves, as Spin documents for 0.3 components;
//! `SPIN_MAX_INSTANCE_REUSE_COUNT=1` gives each request a fresh instance. A worker takes a
//! second request at once only while its first waits on I/O, so a guest computing without end
//! holds up no other request.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::{Request, Response};
use spinrt_engine::wasmtime_wasi_http::handler::{
    self, HandlerState, ProxyHandler, ProxyPre, ShouldAccept, WorkerExpiration, WorkerStatus,
};
use spinrt_engine::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use spinrt_engine::wasmtime_wasi_http::p3::bindings::ServicePre;
use spinrt_engine::wasmtime_wasi_http::{WasiHttpView, p3};
use spinrt_engine::{InstanceState, LoadedApp, LoadedComponent, wasmtime};

use spinrt_telemetry::traces::TraceContext;

use super::GuestError;
use crate::reuse::InstanceReuse;

pub struct WasiHttp3Executor {
    handler: ProxyHandler<Workers>,
}

impl WasiHttp3Executor {
    /// The executor, or why the component exports no `wasi:http/handler@0.3.0`.
    pub fn new(
        app: &Arc<LoadedApp>,
        component: &LoadedComponent,
        reuse: InstanceReuse,
    ) -> Result<Self, String> {
        let pre =
            ServicePre::new(component.instance_pre().clone()).map_err(|e| format!("{e:#}"))?;
        Ok(Self {
            handler: ProxyHandler::new(Workers {
                app: app.clone(),
                id: component.id().to_string(),
                pre: ProxyPre::P3(pre),
                reuse,
            }),
        })
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
        let req = req.map(|body| body.map_err(Into::into).boxed_unsync());
        let id = component.id();
        self.handler.handle(trace.cloned(), req).await.map_err(|e| {
            let why = if let Some(code) = e.downcast_ref::<p3::bindings::http::types::ErrorCode>() {
                format!("returned an error instead of a response: {code:?}")
            } else if e.is::<handler::TrapOrPanicError>() {
                // The trap itself is logged as its instance ends (`Worker::drop`).
                "trapped before it answered".to_string()
            } else {
                format!("failed: {e:?}")
            };
            GuestError(format!("component '{id}' {why}"))
        })
    }
}

/// Makes the instances (workers) of one component.
struct Workers {
    app: Arc<LoadedApp>,
    id: String,
    pre: ProxyPre<InstanceState>,
    reuse: InstanceReuse,
}

impl HandlerState for Workers {
    type StoreData = InstanceState;
    type WorkerExpiration = IdleTimeout;
    type WorkerState = Worker;

    async fn instantiate(
        &self,
    ) -> wasmtime::Result<handler::Instance<InstanceState, IdleTimeout, Worker>> {
        let component = self
            .app
            .component(&self.id)
            .ok_or_else(|| wasmtime::format_err!("component '{}' is not loaded", self.id))?;
        let mut store = component.new_store()?;
        let proxy = self.pre.instantiate_async(&mut store).await?;
        Ok(handler::Instance {
            store,
            proxy,
            view: |state| state.http(),
            expiration: IdleTimeout {
                after: self.reuse.idle_timeout.draw(),
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: Worker {
                id: self.id.clone(),
                max_requests: self.reuse.max_requests.draw(),
                max_concurrent: self.reuse.max_concurrent.draw(),
            },
        })
    }
}

/// One instance's limits.
struct Worker {
    id: String,
    max_requests: usize,
    max_concurrent: usize,
}

impl handler::WorkerState for Worker {
    type StoreData = InstanceState;
    /// The request's trace, which the guest's outbound calls join.
    type RequestData = Option<TraceContext>;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.max_requests {
            ShouldAccept::Never
        } else if concurrent >= self.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: wasmtime::StoreContextMut<'_, InstanceState>,
        trace: Option<TraceContext>,
        _task: wasmtime::component::GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        // Host calls made while requests of one instance overlap are traced under the last
        // one to start.
        if let Some(trace) = trace {
            store.data_mut().join_trace(trace);
        }
        // No deadline of our own: a request runs until it answers or its client goes away,
        // as for 0.2 components.
        Box::pin(std::future::pending())
    }

    fn drop(&self, store: wasmtime::Store<InstanceState>, result: wasmtime::Result<()>) {
        if let Err(e) = result {
            spinrt_engine::count_if_trap(&self.id, &e);
            log::error!("component '{}' failed: {e:?}", self.id);
        }
        drop(store);
    }
}

/// Ends an instance idle for its timeout.
struct IdleTimeout {
    after: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for IdleTimeout {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        since: Instant,
    ) -> Poll<()> {
        if status != WorkerStatus::Idle {
            return Poll::Pending;
        }
        let deadline = tokio::time::Instant::from_std(since + self.after);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}
