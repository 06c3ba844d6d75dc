//! Media types of Spin artifacts, as Spin's own OCI client names them.

/// The locked app: a layer (Spin 2+), or the image config itself (Spin 1).
pub const SPIN_APPLICATION: &str = "application/vnd.fermyon.spin.application.v1+config";
/// A component's Wasm.
pub const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// Wasm as `wkg` publishes it; Spin reads it too.
pub const WASM_LAYER_WKG: &str = "application/wasm";
/// One static file.
pub const DATA_LAYER: &str = "application/vnd.wasm.content.layer.v1+data";
/// Many static files in one gzipped tar (Spin uses it when an app has too many files).
pub const ARCHIVE_LAYER: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
/// Every layer media type a Spin artifact may hold.
pub const SPIN_LAYERS: [&str; 5] = [
    SPIN_APPLICATION,
    WASM_LAYER,
    WASM_LAYER_WKG,
    DATA_LAYER,
    ARCHIVE_LAYER,
];

pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The config label that ties an image config to its locked app.
pub const LOCKED_APP_DIGEST_LABEL: &str = "com.fermyon.spin.lockedAppDigest";
/// Docker's image manifest, which registries still hand out for older images.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
