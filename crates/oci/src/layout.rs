//! OCI image layouts: a directory or a tarball with `oci-layout`, `index.json` and
//! `blobs/sha256/...`, as `ctr images import` and `skopeo` read them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::media_types::*;
use crate::{Blob, Image, OciError};

/// Writes `image` as an OCI layout tarball. `reference` (e.g. `localhost/hello:v1`) names it:
/// containerd takes the `io.containerd.image.name` annotation as the image name on import.
pub fn write_tar(image: &Image, reference: &str, out: impl Write) -> Result<(), OciError> {
    let tag = reference
        .rsplit_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.contains('/'))
        .unwrap_or("latest");
    let mut descriptor = image.manifest.descriptor();
    descriptor["annotations"] = json!({
        "io.containerd.image.name": reference,
        "org.opencontainers.image.ref.name": tag,
    });
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]});
    let mut tar = tar::Builder::new(out);
    let mut add = |path: &str, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, path, data)
    };
    let io = |e| OciError::Io {
        path: "image tarball".into(),
        source: e,
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
    add("index.json", &serde_json::to_vec(&index).expect("json")).map_err(io)?;
    for blob in [&image.manifest, &image.config]
        .into_iter()
        .chain(&image.layers)
    {
        add(&blob_path(&blob.digest), &blob.data).map_err(io)?;
    }
    tar.into_inner().map_err(io)?.flush().map_err(io)?;
    Ok(())
}

/// Reads the first image of a layout directory or tarball.
pub fn read(path: &Path) -> Result<Image, OciError> {
    let blobs = if path.is_dir() {
        read_dir_files(path)?
    } else {
        read_tar_files(path)?
    };
    let get = |name: &str| {
        blobs.get(name).ok_or_else(|| {
            OciError::Invalid(format!("{}: no {name} in the layout", path.display()))
        })
    };
    let blob = |descriptor: &Value| -> Result<Blob, OciError> {
        let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
        let digest = descriptor["digest"]
            .as_str()
            .ok_or_else(|| OciError::Invalid("descriptor without a digest".into()))?;
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| OciError::Invalid(format!("unsupported digest '{digest}'")))?;
        let bytes = blobs
            .get(&format!("blobs/sha256/{hex}"))
            .ok_or(OciError::MissingLayer {
                digest: digest.to_string(),
            })?
            .clone();
        Blob::verified(media_type, digest, bytes)
    };
    let json = |what: &str, bytes: &[u8]| -> Result<Value, OciError> {
        serde_json::from_slice(bytes)
            .map_err(|e| OciError::Invalid(format!("{what} is not JSON: {e}")))
    };

    let mut index = json("index.json", get("index.json")?)?;
    // Follow nested indexes down to the first image manifest.
    let manifest = loop {
        let first = index["manifests"]
            .get(0)
            .cloned()
            .ok_or_else(|| OciError::Invalid("the index lists no manifest".into()))?;
        let manifest = blob(&first)?;
        let doc = json(&format!("manifest {}", manifest.digest), &manifest.data)?;
        let is_index = manifest.media_type == OCI_INDEX || doc.get("manifests").is_some();
        if is_index {
            index = doc;
        } else {
            break manifest;
        }
    };
    let doc = json(&format!("manifest {}", manifest.digest), &manifest.data)?;
    let config = blob(&doc["config"])?;
    let layers = doc["layers"]
        .as_array()
        .ok_or_else(|| OciError::Invalid("the manifest has no layers list".into()))?
        .iter()
        .map(blob)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Image {
        manifest,
        config,
        layers,
    })
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn read_dir_files(dir: &Path) -> Result<HashMap<String, Vec<u8>>, OciError> {
    let mut files = HashMap::new();
    let index = dir.join("index.json");
    files.insert(
        "index.json".into(),
        std::fs::read(&index).map_err(OciError::io(&index))?,
    );
    let blobs = dir.join("blobs/sha256");
    for entry in std::fs::read_dir(&blobs).map_err(OciError::io(&blobs))? {
        let entry = entry.map_err(OciError::io(&blobs))?;
        let name = format!("blobs/sha256/{}", entry.file_name().to_string_lossy());
        files.insert(
            name,
            std::fs::read(entry.path()).map_err(OciError::io(entry.path()))?,
        );
    }
    Ok(files)
}

fn read_tar_files(path: &Path) -> Result<HashMap<String, Vec<u8>>, OciError> {
    let file = std::fs::File::open(path).map_err(OciError::io(path))?;
    let mut archive = tar::Archive::new(file);
    let mut files = HashMap::new();
    let bad = |e| OciError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(bad)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(bad)?;
        files.insert(name, bytes);
    }
    Ok(files)
}
