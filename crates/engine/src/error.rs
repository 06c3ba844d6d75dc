/// What can go wrong turning Wasm into something runnable.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("component '{component}': {message}")]
    Component { component: String, message: String },
    #[error("{0}")]
    Variable(String),
    #[error("runtime config {0}")]
    RuntimeConfig(String),
    #[error("cannot configure the wasmtime engine: {0}")]
    Config(String),
    #[error(transparent)]
    App(#[from] spinrt_app::AppError),
}

impl EngineError {
    pub(crate) fn component(id: &str, message: impl std::fmt::Display) -> Self {
        Self::Component {
            component: id.to_string(),
            message: message.to_string(),
        }
    }
}
