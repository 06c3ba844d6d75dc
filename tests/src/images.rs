//! Images for the containerd tests, as OCI layout tarballs that `ctr images import` reads.

use std::path::{Path, PathBuf};

use serde_json::json;
use spinrt_oci::{Blob, Image, layout, media_types, sha256_digest};

/// Packs a test app (`tests/apps/manifests/NAME`) as a Spin artifact.
pub fn spin_artifact(app: &str, reference: &str, dir: &Path) -> PathBuf {
    let app = spinrt_app::manifest::load(&crate::apps::manifest_dir(app)).unwrap();
    write(&spinrt_oci::pack(&app).unwrap(), reference, dir)
}

/// A Spin artifact with its locked app replaced: for malformed-image tests.
pub fn spin_artifact_with_locked_app(
    app: &str,
    reference: &str,
    dir: &Path,
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let app = spinrt_app::manifest::load(&crate::apps::manifest_dir(app)).unwrap();
    let image = spinrt_oci::pack(&app).unwrap();
    let mut layers = image.layers.clone();
    let locked = layers.pop().unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&locked.data).unwrap();
    edit(&mut json);
    layers.push(blob(
        media_types::SPIN_APPLICATION,
        serde_json::to_vec(&json).unwrap(),
    ));
    let config = blob(
        media_types::OCI_CONFIG,
        serde_json::to_vec(&json!({
            "architecture": "wasm", "os": "Wasip1",
            "config": {"Labels": {media_types::LOCKED_APP_DIGEST_LABEL: layers.last().unwrap().digest}},
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap(),
    );
    write(&image_of(config, layers), reference, dir)
}

/// An ordinary Linux image whose rootfs holds `files` (path, bytes): no Spin layers at all.
pub fn plain_image(files: &[(&str, Vec<u8>)], reference: &str, dir: &Path) -> PathBuf {
    plain_image_with_modes(files, &[], reference, dir)
}

/// [`plain_image`], with the file modes `modes` names (others are 0644).
pub fn plain_image_with_modes(
    files: &[(&str, Vec<u8>)],
    modes: &[(&str, u32)],
    reference: &str,
    dir: &Path,
) -> PathBuf {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        let mode = modes
            .iter()
            .find(|(p, _)| p == path)
            .map_or(0o644, |(_, m)| *m);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes.as_slice())
            .unwrap();
    }
    let layer = blob(
        "application/vnd.oci.image.layer.v1.tar",
        tar.into_inner().unwrap(),
    );
    let config = blob(
        media_types::OCI_CONFIG,
        serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        }))
        .unwrap(),
    );
    write(&image_of(config, vec![layer]), reference, dir)
}

fn blob(media_type: &str, data: Vec<u8>) -> Blob {
    Blob {
        media_type: media_type.to_string(),
        digest: sha256_digest(&data),
        data,
    }
}

fn image_of(config: Blob, layers: Vec<Blob>) -> Image {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    Image {
        manifest: blob(
            media_types::OCI_MANIFEST,
            serde_json::to_vec(&manifest).unwrap(),
        ),
        config,
        layers,
    }
}

fn write(image: &Image, reference: &str, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{}.tar", reference.replace(['/', ':'], "_")));
    layout::write_tar(image, reference, std::fs::File::create(&path).unwrap()).unwrap();
    path
}
