use std::path::PathBuf;

/// Everything that can be wrong with an application, each naming what and where.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: invalid manifest: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
    #[error("invalid locked app: {0}")]
    LockedApp(String),
    #[error("component '{component}': {message}")]
    Component { component: String, message: String },
    #[error("trigger '{trigger}': {message}")]
    Trigger { trigger: String, message: String },
    #[error("{0}")]
    Routes(String),
    #[error("variable '{name}': {message}")]
    Variable { name: String, message: String },
    #[error("not supported: {0}")]
    Unsupported(String),
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    pub(crate) fn component(id: &str, message: impl Into<String>) -> Self {
        Self::Component {
            component: id.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn trigger(id: &str, message: impl Into<String>) -> Self {
        Self::Trigger {
            trigger: id.to_string(),
            message: message.into(),
        }
    }
}
