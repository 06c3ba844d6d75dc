//! How a component is called for a request, chosen once per component when the server starts.

mod spin1;
mod wasi_http;

pub use spin1::Spin1Executor;
use spinrt_app::HttpExecutor;
use spinrt_engine::LoadedComponent;
pub use wasi_http::WasiHttpExecutor;

/// Why a request could not be answered by the guest; becomes a 500.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GuestError(String);

/// The executor for one component, or why it cannot serve requests.
pub enum Executor {
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
        let why = match WasiHttpExecutor::new(component) {
            Ok(e) => return Ok(Executor::WasiHttp(e)),
            Err(why) => why,
        };
        if let Some(e) = Spin1Executor::new(component) {
            return Ok(Executor::Spin1(e));
        }
        let reason = format!(
            "component '{}' exports no HTTP handler: neither wasi:http/incoming-handler \
             (0.2.x or 0.2.0-rc-2023-10-18) nor Spin 1's fermyon:spin/inbound-http ({why})",
            component.id()
        );
        log::warn!("{reason}: its routes will answer 500");
        Ok(Executor::Broken(reason))
    }
}
