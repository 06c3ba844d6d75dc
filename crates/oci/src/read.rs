use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use spinrt_app::locked::{ContentPath, ContentRef, LockedApp, file_url};
use spinrt_app::{App, ComponentSource};

use crate::media_types::*;
use crate::{OciError, verify_digest};

/// One layer of an image: its descriptor's media type and digest, and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Layer<'a> {
    pub media_type: &'a str,
    pub digest: &'a str,
    pub bytes: &'a [u8],
    /// For Wasm layers: `bytes` are our engine's machine code for the layer with `digest`
    /// (containerd's content store kept it for us), not the layer itself.
    pub precompiled: bool,
    /// For a precompiled Wasm layer: its machine code is this file, used where it is (mapped by
    /// the engine, shared by every process that maps it), and `bytes` are not read.
    pub compiled_file: Option<&'a Path>,
}

impl Layer<'_> {
    fn is_precompiled_wasm(&self) -> bool {
        self.precompiled && matches!(self.media_type, WASM_LAYER | WASM_LAYER_WKG)
    }
}

/// Reads a Spin app from an image: its config and layers. Content is written below
/// `work_dir` (Wasm in `wasm/`, each component's files in `files/<component>/`).
pub fn read(
    config_media_type: &str,
    config: &[u8],
    layers: &[Layer<'_>],
    work_dir: &Path,
) -> Result<App, OciError> {
    if config_media_type == SPIN_APPLICATION {
        // Spin 1: the config is the locked app.
        return unpack(config, layers, work_dir);
    }
    let locked = locked_app_layer(layers)?;
    let config: serde_json::Value = serde_json::from_slice(config)
        .map_err(|e| OciError::Invalid(format!("image config is not JSON: {e}")))?;
    if let Some(label) = config
        .pointer("/config/Labels")
        .and_then(|l| l.get(LOCKED_APP_DIGEST_LABEL))
        .and_then(|d| d.as_str())
        && label != locked.digest
    {
        return Err(OciError::Invalid(format!(
            "config label {LOCKED_APP_DIGEST_LABEL} is {label}, but the locked app layer is {}",
            locked.digest
        )));
    }
    read_layers(layers, work_dir)
}

/// Reads a Spin app from layers alone (what containerd hands a shim): the locked app must be
/// one of them.
pub fn read_layers(layers: &[Layer<'_>], work_dir: &Path) -> Result<App, OciError> {
    let locked = locked_app_layer(layers)?;
    unpack(locked.bytes, layers, work_dir)
}

fn locked_app_layer<'a>(layers: &[Layer<'a>]) -> Result<Layer<'a>, OciError> {
    let mut found = layers.iter().filter(|l| l.media_type == SPIN_APPLICATION);
    match (found.next(), found.next()) {
        (Some(l), None) => Ok(*l),
        (None, _) => Err(OciError::Invalid(format!(
            "no locked app layer ({SPIN_APPLICATION}): this is not a Spin app image"
        ))),
        (Some(_), Some(_)) => Err(OciError::Invalid("more than one locked app layer".into())),
    }
}

fn unpack(locked_json: &[u8], layers: &[Layer<'_>], work_dir: &Path) -> Result<App, OciError> {
    let content = content_by_digest(layers)?;
    let mut locked = LockedApp::from_json(locked_json)?;
    let wasm_dir = work_dir.join("wasm");
    // Components whose Wasm arrives as machine code, and where it was written.
    let mut precompiled: HashMap<String, PathBuf> = HashMap::new();
    let files_root = work_dir.join("files");
    for component in &mut locked.components {
        let id = component.id.clone();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(OciError::Invalid(format!(
                "component id '{id}' is not a valid id"
            )));
        }
        let source = &mut component.source.content;
        if source.inline.is_none() {
            let digest = source.digest.clone().ok_or_else(|| {
                OciError::Invalid(format!(
                    "component '{id}' has neither inline content nor a digest"
                ))
            })?;
            let hex = digest.trim_start_matches("sha256:");
            let compiled = layers
                .iter()
                .find(|l| l.digest == digest && l.is_precompiled_wasm());
            let path = match compiled {
                Some(layer) => {
                    let path = match layer.compiled_file {
                        Some(file) => file.to_path_buf(),
                        None => {
                            let path = wasm_dir.join(format!("{hex}.cwasm"));
                            write_once(&path, layer.bytes)?;
                            path
                        }
                    };
                    precompiled.insert(id.clone(), path.clone());
                    path
                }
                None => {
                    let bytes = content.get(&digest).ok_or(OciError::MissingLayer {
                        digest: digest.clone(),
                    })?;
                    let path = wasm_dir.join(format!("{hex}.wasm"));
                    write_once(&path, bytes)?;
                    path
                }
            };
            source.source = Some(file_url(&path));
        }
        if component.files.is_empty() {
            continue;
        }
        let dir = files_root.join(&id);
        std::fs::create_dir_all(&dir).map_err(OciError::io(&dir))?;
        for file in &component.files {
            let rel = file.path.to_string_lossy();
            let rel =
                spinrt_app::files::relative_inside(rel.trim_start_matches('/')).map_err(|e| {
                    OciError::Invalid(format!(
                        "component '{id}': file '{}': {e}",
                        file.path.display()
                    ))
                })?;
            let bytes: Cow<'_, [u8]> = match (&file.content.inline, &file.content.digest) {
                (Some(inline), _) => Cow::Owned(decode_inline(inline).map_err(|e| {
                    OciError::Invalid(format!("component '{id}': file '{}': {e}", rel.display()))
                })?),
                (None, Some(digest)) => {
                    Cow::Borrowed(content.get(digest).ok_or(OciError::MissingLayer {
                        digest: digest.clone(),
                    })?)
                }
                (None, None) => {
                    return Err(OciError::Invalid(format!(
                        "component '{id}': file '{}' has neither inline content nor a digest",
                        rel.display()
                    )));
                }
            };
            write_file(&dir.join(rel), &bytes)?;
        }
        component.files = vec![ContentPath {
            content: ContentRef {
                source: Some(file_url(&dir)),
                ..Default::default()
            },
            path: PathBuf::from("/"),
        }];
    }
    let mut app = locked.into_app()?;
    for component in &mut app.components {
        if let Some(path) = precompiled.remove(&component.id) {
            component.source = ComponentSource::Precompiled(path);
        }
    }
    Ok(app)
}

/// Content-addressed files: one written already holds the same bytes.
fn write_once(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    if path.exists() {
        return Ok(());
    }
    write_file(path, bytes)
}

/// Every Wasm and file content in the layers (archive layers opened), by digest, verified.
fn content_by_digest<'a>(layers: &[Layer<'a>]) -> Result<HashMap<String, Cow<'a, [u8]>>, OciError> {
    let mut content = HashMap::new();
    for layer in layers {
        if layer.is_precompiled_wasm() {
            continue;
        }
        verify_digest(
            &format!("layer {}", layer.digest),
            layer.digest,
            layer.bytes,
        )?;
        match layer.media_type {
            SPIN_APPLICATION => {}
            WASM_LAYER | WASM_LAYER_WKG | DATA_LAYER => {
                content.insert(layer.digest.to_string(), Cow::Borrowed(layer.bytes));
            }
            ARCHIVE_LAYER => {
                for bytes in archive_files(layer)? {
                    content.insert(crate::sha256_digest(&bytes), Cow::Owned(bytes));
                }
            }
            other => {
                return Err(OciError::UnknownMediaType {
                    media_type: other.to_string(),
                    digest: layer.digest.to_string(),
                });
            }
        }
    }
    Ok(content)
}

/// The regular files in a gzipped tar layer. Their paths do not matter: the locked app
/// places each file by its digest.
fn archive_files(layer: &Layer<'_>) -> Result<Vec<Vec<u8>>, OciError> {
    let bad = |e: std::io::Error| OciError::Invalid(format!("archive layer {}: {e}", layer.digest));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer.bytes));
    let mut files = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(bad)?;
            files.push(bytes);
        }
    }
    Ok(files)
}

fn decode_inline(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("inline content is not base64: {e}"))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(OciError::io(parent))?;
    }
    std::fs::write(path, bytes).map_err(OciError::io(path))
}
