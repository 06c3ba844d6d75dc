//! A container's image, read from containerd's content store: what the shim hands the server
//! of a Spin container (its locked app, Wasm and data layers).

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::introspection_client::IntrospectionClient;
use containerd_client::services::v1::{
    GetContainerRequest, GetImageRequest, PluginsRequest, ReadContentRequest,
};
use containerd_client::tonic::Request;
use containerd_client::tonic::transport::Channel;
use containerd_client::with_namespace;
use serde::Deserialize;
use std::path::PathBuf;

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("connecting to containerd at {address}: {message}")]
    Connect { address: String, message: String },
    #[error("asking containerd for {what}: {status}")]
    Containerd {
        what: String,
        status: containerd_client::tonic::Status,
    },
    #[error("image {image}: {message}")]
    Image { image: String, message: String },
    /// A blob of the content store that is not what its digest says (damaged on disk, or
    /// written around containerd): never compiled, never served.
    #[error("containerd's content store: {0}")]
    Damaged(spinrt_oci::OciError),
}

/// One layer of the image (or its config): media type, digest and bytes (none for a Wasm
/// layer until its machine code takes their place).
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
    /// `bytes` are our engine's machine code for the Wasm layer `digest`.
    pub precompiled: bool,
    /// The content (or its machine code) is this file of containerd's content store, and
    /// `bytes` are empty: servers map it where it is, so the pods of one image share it in the
    /// page cache, and a large data layer is never read into a process's memory.
    pub file: Option<PathBuf>,
}

/// The parts of a Spin artifact: its config and its layers.
#[derive(Debug)]
pub struct SpinImage {
    pub config: Blob,
    pub layers: Vec<Blob>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(default)]
    architecture: String,
}

/// containerd's content store, in one namespace.
pub struct Store {
    pub(crate) channel: Channel,
    pub(crate) namespace: String,
}

impl Store {
    pub async fn connect(address: &str, namespace: &str) -> Result<Self, ContentError> {
        let channel =
            containerd_client::connect(address)
                .await
                .map_err(|e| ContentError::Connect {
                    address: address.to_string(),
                    message: e.to_string(),
                })?;
        Ok(Self {
            channel,
            namespace: namespace.to_string(),
        })
    }

    pub(crate) fn error(
        what: impl Into<String>,
    ) -> impl FnOnce(containerd_client::tonic::Status) -> ContentError {
        let what = what.into();
        move |status| ContentError::Containerd { what, status }
    }

    /// Where a blob of the local content store lies, when containerd's content plugin says
    /// where its root is (a remote content store has none). The root is asked for once per
    /// process: containerd does not move it while it runs.
    pub async fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        static ROOT: tokio::sync::OnceCell<Option<PathBuf>> = tokio::sync::OnceCell::const_new();
        let (algorithm, hex) = digest.split_once(':')?;
        let root = ROOT
            .get_or_init(|| async {
                let plugins = IntrospectionClient::new(self.channel.clone())
                    .plugins(PluginsRequest {
                        filters: vec!["type==io.containerd.content.v1".to_string()],
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .plugins;
                plugins
                    .iter()
                    .find_map(|p| p.exports.get("root"))
                    .map(PathBuf::from)
            })
            .await
            .as_ref()?;
        let path = root.join("blobs").join(algorithm).join(hex);
        path.is_file().then_some(path)
    }

    /// The blob `digest`, checked against its digest.
    pub async fn read(&self, digest: &str) -> Result<Vec<u8>, ContentError> {
        let request = with_namespace!(
            ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size: 0,
            },
            self.namespace
        );
        let mut stream = ContentClient::new(self.channel.clone())
            .read(request)
            .await
            .map_err(Self::error(format!("content {digest}")))?
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(Self::error(format!("content {digest}")))?
        {
            bytes.extend_from_slice(&chunk.data);
        }
        spinrt_oci::verify_digest(&format!("blob {digest}"), digest, &bytes)
            .map_err(ContentError::Damaged)?;
        Ok(bytes)
    }
}

/// What container `id` runs.
pub enum ContainerImage {
    Spin(SpinImage),
    /// Any other image (a sidecar's, a plain image with `spin.toml` in its rootfs), by the
    /// digest of its target (its index or manifest), if it has an image.
    Other {
        target: Option<String>,
    },
}

/// The image container `id` runs: a Spin artifact's config and layers, or what the image is.
pub async fn image(store: &Store, id: &str) -> Result<ContainerImage, ContentError> {
    let namespace = &store.namespace;
    let container = ContainersClient::new(store.channel.clone())
        .get(with_namespace!(
            GetContainerRequest { id: id.to_string() },
            namespace
        ))
        .await
        .map_err(Store::error(format!("container {id}")))?
        .into_inner()
        .container;
    let Some(image) = container.map(|c| c.image).filter(|i| !i.is_empty()) else {
        return Ok(ContainerImage::Other { target: None });
    };
    let target = ImagesClient::new(store.channel.clone())
        .get(with_namespace!(
            GetImageRequest {
                name: image.clone()
            },
            namespace
        ))
        .await
        .map_err(Store::error(format!("image {image}")))?
        .into_inner()
        .image
        .and_then(|i| i.target)
        .ok_or_else(|| ContentError::Image {
            image: image.clone(),
            message: "containerd has no target for it".into(),
        })?;
    let invalid = |message: String| ContentError::Image {
        image: image.clone(),
        message,
    };
    let other = ContainerImage::Other {
        target: Some(target.digest.clone()),
    };
    let mut manifest_digest = target.digest.clone();
    if INDEX_TYPES.contains(&target.media_type.as_str()) {
        let index: Index = serde_json::from_slice(&store.read(&target.digest).await?)
            .map_err(|e| invalid(format!("index is not valid: {e}")))?;
        // A Spin artifact is one manifest; an index of several is a Linux image's platforms.
        let wasm = index.manifests.iter().find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.architecture == "wasm")
        });
        match (wasm, index.manifests.as_slice()) {
            (Some(m), _) | (None, [m]) => manifest_digest = m.digest.clone(),
            _ => return Ok(other),
        }
    }
    let manifest: Manifest = serde_json::from_slice(&store.read(&manifest_digest).await?)
        .map_err(|e| invalid(format!("manifest is not valid: {e}")))?;
    let config_bytes = store.read(&manifest.config.digest).await?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| invalid(format!("config is not valid: {e}")))?;
    let spin_layers = manifest
        .layers
        .iter()
        .any(|l| spinrt_oci::media_types::SPIN_LAYERS.contains(&l.media_type.as_str()));
    let spin1_config = manifest.config.media_type == spinrt_oci::media_types::SPIN_APPLICATION;
    if config.architecture != "wasm" && !spin_layers && !spin1_config {
        return Ok(other);
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for layer in &manifest.layers {
        // The daemon reads what it needs: the locked app here, a Wasm layer only to compile
        // it (the server gets its machine code, `app::spin_app`). Files' content goes to the
        // server as the content store's file, checked against its digest there.
        let file = match layer.media_type.as_str() {
            spinrt_oci::media_types::DATA_LAYER => store.blob_path(&layer.digest).await,
            _ => None,
        };
        let bytes = if file.is_some() || crate::daemon::precompile::is_wasm(&layer.media_type) {
            Vec::new()
        } else {
            store.read(&layer.digest).await?
        };
        layers.push(Blob {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            bytes,
            precompiled: false,
            file,
        });
    }
    Ok(ContainerImage::Spin(SpinImage {
        config: Blob {
            media_type: manifest.config.media_type,
            digest: manifest.config.digest,
            bytes: config_bytes,
            precompiled: false,
            file: None,
        },
        layers,
    }))
}
