//! How a component is called for a request, chosen once per component when the server starts.

mod wasi_http;

use spinrt_app::HttpExecutor;
use spinrt_engine::LoadedComponent;
pub use wasi_http::WasiHttpExecutor;

/// The executor for one component, or why it cannot serve requests.
pub enum Executor {
    WasiHttp(WasiHttpExecutor),
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
        match WasiHttpExecutor::new(component) {
            Ok(e) => Ok(Executor::WasiHttp(e)),
            Err(reason) => {
                log::warn!("{reason}: its routes will answer 500");
                Ok(Executor::Broken(reason))
            }
        }
    }
}
