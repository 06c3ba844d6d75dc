//! Pushing images to and pulling them from an OCI registry (the distribution API), through
//! `oci-client`. Manifests go up byte for byte as [`crate::pack`] wrote them, so the digest a
//! registry reports is the digest of the packed tarball's manifest.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::media_types::{DOCKER_MANIFEST, OCI_MANIFEST};
use crate::{Blob, Image, OciError};

/// How to reach a registry.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Plain HTTP instead of HTTPS (a registry on loopback or a trusted network).
    pub insecure: bool,
    /// Basic auth; anonymous when `None`.
    pub credentials: Option<(String, String)>,
}

pub struct Registry {
    client: Client,
    auth: RegistryAuth,
}

impl Registry {
    pub fn new(options: &RegistryOptions) -> Self {
        let protocol = if options.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let auth = match &options.credentials {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        };
        Self {
            client: Client::new(ClientConfig {
                protocol,
                ..Default::default()
            }),
            auth,
        }
    }

    /// Pushes every blob, then the manifest, under `reference`; returns the manifest digest.
    pub async fn push(&self, image: &Image, reference: &str) -> Result<String, OciError> {
        let reference = parse(reference)?;
        let err = registry_error(&reference);
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        for blob in image.layers.iter().chain([&image.config]) {
            self.client
                .push_blob(&reference, &blob.data, &blob.digest)
                .await
                .map_err(&err)?;
        }
        let content_type =
            image.manifest.media_type.parse().map_err(|_| {
                OciError::Invalid("manifest media type is not a header value".into())
            })?;
        self.client
            .push_manifest_raw(&reference, image.manifest.data.clone(), content_type)
            .await
            .map_err(&err)?;
        Ok(image.manifest.digest.clone())
    }

    /// Pulls the image manifest `reference` names, its config and layers, every digest verified.
    pub async fn pull(&self, reference: &str) -> Result<Image, OciError> {
        let reference = parse(reference)?;
        let err = registry_error(&reference);
        let (bytes, _) = self
            .client
            .pull_manifest_raw(&reference, &self.auth, &[OCI_MANIFEST, DOCKER_MANIFEST])
            .await
            .map_err(&err)?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|m| m["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| OCI_MANIFEST.to_string());
        let manifest = match reference.digest() {
            Some(digest) => Blob::verified(&media_type, digest, bytes)?,
            None => Blob::new(&media_type, bytes),
        };
        let parsed: OciImageManifest = serde_json::from_slice(&manifest.data)
            .map_err(|e| OciError::Invalid(format!("{reference}: not an image manifest: {e}")))?;
        let config = self.blob(&reference, &parsed.config).await?;
        let mut layers = Vec::with_capacity(parsed.layers.len());
        for descriptor in &parsed.layers {
            layers.push(self.blob(&reference, descriptor).await?);
        }
        Ok(Image {
            manifest,
            config,
            layers,
        })
    }

    async fn blob(
        &self,
        reference: &Reference,
        descriptor: &OciDescriptor,
    ) -> Result<Blob, OciError> {
        let mut data = Vec::new();
        self.client
            .pull_blob(reference, descriptor, &mut data)
            .await
            .map_err(registry_error(reference))?;
        Blob::verified(&descriptor.media_type, &descriptor.digest, data)
    }
}

fn parse(reference: &str) -> Result<Reference, OciError> {
    reference
        .parse()
        .map_err(|e| OciError::Invalid(format!("'{reference}' is not an image reference: {e}")))
}

fn registry_error(
    reference: &Reference,
) -> impl Fn(oci_client::errors::OciDistributionError) -> OciError + '_ {
    move |source| OciError::Registry {
        reference: reference.to_string(),
        message: source.to_string(),
    }
}
