use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("digest mismatch: {0}")]
    Digest(String),
    #[error("invalid image: {0}")]
    Invalid(String),
    #[error("layer {digest} is missing from the image")]
    MissingLayer { digest: String },
    #[error("unknown layer media type '{media_type}' (layer {digest}): not part of a Spin app")]
    UnknownMediaType { media_type: String, digest: String },
    #[error("registry {reference}: {message}")]
    Registry { reference: String, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    App(#[from] spinrt_app::AppError),
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
