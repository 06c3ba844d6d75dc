//! An image as blobs: what `pack` builds, what a layout or a registry gives back, and what the
//! reader turns into an app.

use std::path::Path;

use serde_json::json;
use spinrt_app::App;

use crate::{Layer, OciError, read, sha256_digest, verify_digest};

/// A content-addressed blob.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub(crate) fn new(media_type: &str, data: Vec<u8>) -> Self {
        Self {
            media_type: media_type.to_string(),
            digest: sha256_digest(&data),
            data,
        }
    }

    /// A blob fetched by `digest`: its bytes must hash to it.
    pub(crate) fn verified(
        media_type: &str,
        digest: &str,
        data: Vec<u8>,
    ) -> Result<Self, OciError> {
        verify_digest(&format!("blob {digest}"), digest, &data)?;
        Ok(Self {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            data,
        })
    }

    /// This blob's OCI descriptor.
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// An image: manifest, config and layers, all as blobs.
#[derive(Clone, Debug)]
pub struct Image {
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

impl Image {
    /// The layers as the reader takes them.
    pub fn layers(&self) -> Vec<Layer<'_>> {
        self.layers
            .iter()
            .map(|blob| Layer {
                media_type: &blob.media_type,
                digest: &blob.digest,
                bytes: &blob.data,
                precompiled: false,
                compiled_file: None,
            })
            .collect()
    }

    /// Reads the Spin app this image holds, writing its content below `work_dir`.
    pub fn read_app(&self, work_dir: &Path) -> Result<App, OciError> {
        read(
            &self.config.media_type,
            &self.config.data,
            &self.layers(),
            work_dir,
        )
    }
}
