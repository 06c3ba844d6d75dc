use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::json;
use spinrt_app::locked::{ContentPath, ContentRef, LockedApp};
use spinrt_app::{App, ComponentSource};

use crate::media_types::*;
use crate::{Blob, Image, OciError, sha256_digest};

/// Files this small are carried inline in the locked app rather than as layers, as Spin does
/// (some registries refuse tiny blobs).
const INLINE_MAX: usize = 128;

/// Builds the Spin artifact for an app, as `spin registry push` would: one layer per distinct
/// Wasm and file, the locked app as the last layer, and a wasm/Wasip1 image config.
pub fn pack(app: &App) -> Result<Image, OciError> {
    let mut layers = Vec::new();
    let mut seen = HashSet::new();
    let mut add_layer = |blob: Blob, layers: &mut Vec<Blob>| {
        let digest = blob.digest.clone();
        if seen.insert(digest.clone()) {
            layers.push(blob);
        }
        digest
    };

    let mut locked = LockedApp::from_app(app, |_| None);
    for (component, lc) in app.components.iter().zip(locked.components.iter_mut()) {
        let wasm = match &component.source {
            ComponentSource::File(path) => std::fs::read(path).map_err(OciError::io(path))?,
            ComponentSource::Inline(bytes) => bytes.clone(),
            ComponentSource::Precompiled(_) => {
                return Err(OciError::Invalid(format!(
                    "component '{}' is precompiled machine code, which cannot be packed",
                    component.id
                )));
            }
        };
        let digest = add_layer(Blob::new(WASM_LAYER, wasm), &mut layers);
        lc.source.content = ContentRef {
            digest: Some(digest),
            ..Default::default()
        };

        let mut files = Vec::new();
        for mount in &component.files {
            for (guest, host) in walk(&mount.source, &mount.destination)? {
                let bytes = std::fs::read(&host).map_err(OciError::io(&host))?;
                let content = if bytes.len() <= INLINE_MAX {
                    use base64::Engine as _;
                    ContentRef {
                        inline: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                        digest: Some(sha256_digest(&bytes)),
                        source: None,
                    }
                } else {
                    ContentRef {
                        digest: Some(add_layer(Blob::new(DATA_LAYER, bytes), &mut layers)),
                        ..Default::default()
                    }
                };
                files.push(ContentPath {
                    content,
                    path: guest,
                });
            }
        }
        lc.files = files;
    }
    // Spin writes version 0 when no newer feature is needed, so every Spin can read it.
    locked.spin_lock_version = 0;
    let locked_json = serde_json::to_vec(&locked).expect("a locked app always serializes");
    let locked_digest = add_layer(Blob::new(SPIN_APPLICATION, locked_json), &mut layers);

    let config = json!({
        "architecture": "wasm",
        "os": "Wasip1",
        "config": {"Labels": {LOCKED_APP_DIGEST_LABEL: locked_digest}},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let config = Blob::new(OCI_CONFIG, serde_json::to_vec(&config).expect("json"));
    let mut annotations = serde_json::Map::new();
    annotations.insert("org.opencontainers.image.title".into(), json!(app.name));
    if let Some(v) = &app.version {
        annotations.insert("org.opencontainers.image.version".into(), json!(v));
    }
    if let Some(d) = &app.description {
        annotations.insert("org.opencontainers.image.description".into(), json!(d));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        "annotations": annotations,
    });
    Ok(Image {
        manifest: Blob::new(OCI_MANIFEST, serde_json::to_vec(&manifest).expect("json")),
        config,
        layers,
    })
}

/// `(guest path relative to /, host path)` for a file, or every file under a directory.
fn walk(source: &Path, destination: &Path) -> Result<Vec<(PathBuf, PathBuf)>, OciError> {
    let dest = destination
        .strip_prefix("/")
        .unwrap_or(destination)
        .to_path_buf();
    let meta = std::fs::metadata(source).map_err(OciError::io(source))?;
    if !meta.is_dir() {
        return Ok(vec![(dest, source.to_path_buf())]);
    }
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(source)
        .map_err(OciError::io(source))?
        .collect::<Result<_, _>>()
        .map_err(OciError::io(source))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        out.extend(walk(
            &entry.path(),
            &Path::new("/").join(&dest).join(entry.file_name()),
        )?);
    }
    Ok(out)
}
