//! How a component is called for a request, chosen once per component when the server starts.

mod spin1;
mod wasi_http;
mod wasi_http3;

pub use spin1::Spin1Executor;
use spinrt_app::HttpExecutor;
use spinrt_engine::LoadedComponent;
pub use wasi_http::WasiHttpExecutor;
pub use wasi_http3::WasiHttp3Executor;

/// Why a request could not be answered by the guest; becomes a 500.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GuestError(String);

/// The executor for one component, or why it cannot serve requests.
pub enum Executor {
    WasiHttp3(WasiHttp3Executor),
    WasiHttp(WasiHttpExecutor),
    Spin1(Spin1Executor),
    /// The component cannot serve HTTP; requests get a 500 and this reason is logged.
    Broken(String),
}

impl Executor {
    pub fn for_component(component: &LoadedComponent, kind: &HttpExecutor) -> Result<Self, String> {
        if *kind == HttpExecutor::Wagi {
            return Err(format!(
                "component '{}': the WAGI executor is not supported; build it as a wasi:http component",
                component.id()
            ));
        }
        if let Ok(e) = WasiHttp3Executor::new(component) {
            return Ok(Executor::WasiHttp3(e));
        }
        let why = match WasiHttpExecutor::new(component) {
            Ok(e) => return Ok(Executor::WasiHttp(e)),
            Err(why) => why,
        };
        if let Some(e) = Spin1Executor::new(component) {
            return Ok(Executor::Spin1(e));
        }
        let reason = format!(
            "component '{}' exports no HTTP handler: neither wasi:http/handler (0.3.x), \
             wasi:http/incoming-handler (0.2.x or 0.2.0-rc-2023-10-18) nor Spin 1's \
             fermyon:spin/inbound-http ({why})",
            component.id()
        );
        log::warn!("{reason}: its routes will answer 500");
        Ok(Executor::Broken(reason))
    }
}

/// A guest's task, aborted if dropped: a request whose caller went away stops its guest.
struct AbortOnDrop(Option<tokio::task::JoinHandle<wasmtime::Result<()>>>);

impl AbortOnDrop {
    fn new(task: tokio::task::JoinHandle<wasmtime::Result<()>>) -> Self {
        Self(Some(task))
    }

    fn disarm(mut self) -> tokio::task::JoinHandle<wasmtime::Result<()>> {
        self.0.take().expect("armed until disarmed")
    }

    /// Lets the task run on (it streams a body whose head was sent); `log` gets its failure.
    fn detach(self, log: impl FnOnce(String) + Send + 'static) {
        let task = self.disarm();
        tokio::spawn(async move {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log(format!("{e:?}")),
                Err(e) => log(format!("panicked: {e}")),
            }
        });
    }

    /// How the task ended, for a guest that gave no response.
    async fn outcome(self) -> String {
        match self.disarm().await {
            Ok(Ok(())) => "returned without setting a response".to_string(),
            Ok(Err(e)) => format!("failed: {e:?}"),
            Err(e) => format!("panicked: {e}"),
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}
