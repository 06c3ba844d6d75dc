//! How a component is called for a request, chosen once per component when the server starts.

mod spin1;
mod wagi;
mod wasi_http;
mod wasi_http3;

pub use spin1::Spin1Executor;
use std::sync::Arc;

use spinrt_app::HttpExecutor;
use spinrt_engine::{InstanceState, LoadedApp, LoadedComponent, wasmtime};
use spinrt_telemetry::traces::TraceContext;
pub use wagi::{RequestContext, WagiExecutor};
pub use wasi_http::WasiHttpExecutor;
pub use wasi_http3::WasiHttp3Executor;

use crate::reuse::InstanceReuse;

/// Why a request could not be answered by the guest; becomes a 500.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GuestError(pub(crate) String);

/// A fresh store for one request's instance, in the request's trace (when tracing is on).
fn request_store(
    component: &LoadedComponent,
    trace: Option<&TraceContext>,
) -> Result<wasmtime::Store<InstanceState>, GuestError> {
    let mut store = component
        .new_store()
        .map_err(|e| GuestError(e.to_string()))?;
    if let Some(trace) = trace {
        store.data_mut().join_trace(trace.clone());
    }
    Ok(store)
}

/// The executor for one component.
pub enum Executor {
    WasiHttp3(WasiHttp3Executor),
    WasiHttp(WasiHttpExecutor),
    Spin1(Spin1Executor),
    Wagi(WagiExecutor),
}

impl Executor {
    /// The executor of a component an HTTP trigger routes to, or why it cannot serve HTTP: as
    /// in Spin, a component without an HTTP handler fails the app when it loads, not each
    /// request.
    pub fn for_component(
        app: &Arc<LoadedApp>,
        component: &LoadedComponent,
        kind: &HttpExecutor,
        reuse: InstanceReuse,
    ) -> Result<Self, String> {
        if let HttpExecutor::Wagi(config) = kind {
            return WagiExecutor::new(component, config).map(Executor::Wagi);
        }
        if let Ok(e) = WasiHttp3Executor::new(app, component, reuse) {
            return Ok(Executor::WasiHttp3(e));
        }
        let why = match WasiHttpExecutor::new(component) {
            Ok(e) => return Ok(Executor::WasiHttp(e)),
            Err(why) => why,
        };
        if let Some(e) = Spin1Executor::new(component) {
            return Ok(Executor::Spin1(e));
        }
        Err(format!(
            "component '{}' exports no HTTP handler: neither wasi:http/handler (0.3.x), \
             wasi:http/incoming-handler (0.2.x or 0.2.0-rc-2023-10-18) nor Spin 1's \
             fermyon:spin/inbound-http ({why})",
            component.id()
        ))
    }
}

/// The task a guest runs in for one request. If it is dropped before the guest answers (the
/// connection went away, the server is shutting down), the guest is stopped too instead of
/// running on unseen.
struct GuestTask(Option<tokio::task::JoinHandle<wasmtime::Result<()>>>);

impl GuestTask {
    fn new(task: tokio::task::JoinHandle<wasmtime::Result<()>>) -> Self {
        Self(Some(task))
    }

    fn disarm(mut self) -> tokio::task::JoinHandle<wasmtime::Result<()>> {
        self.0.take().expect("armed until disarmed")
    }

    /// The response the guest sends on `response`; after its head the task runs on (it may
    /// stream the body), its failure logged. An error the guest answers with instead is
    /// `refused: ERROR`; no answer at all is how the task ended.
    async fn response<B, E: std::fmt::Debug>(
        self,
        response: tokio::sync::oneshot::Receiver<Result<hyper::Response<B>, E>>,
        id: &str,
        refused: &str,
    ) -> Result<hyper::Response<B>, GuestError> {
        match response.await {
            Ok(Ok(response)) => {
                let task = self.disarm();
                let id = id.to_string();
                tokio::spawn(async move {
                    let failure = match task.await {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => {
                            spinrt_engine::count_if_trap(&id, &e);
                            format!("{e:?}")
                        }
                        Err(e) => format!("panicked: {e}"),
                    };
                    log::error!(
                        "component '{id}' failed after sending the response head: {failure}"
                    );
                });
                Ok(response)
            }
            Ok(Err(e)) => Err(GuestError(format!("component '{id}' {refused}: {e:?}"))),
            Err(_) => {
                let why = match self.disarm().await {
                    Ok(Ok(())) => "returned without setting a response".to_string(),
                    Ok(Err(e)) => {
                        spinrt_engine::count_if_trap(id, &e);
                        format!("failed: {e:?}")
                    }
                    Err(e) => format!("panicked: {e}"),
                };
                Err(GuestError(format!("component '{id}' {why}")))
            }
        }
    }
}

impl Drop for GuestTask {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}
