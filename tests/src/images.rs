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
    spin_artifact_edited(app, reference, dir, |artifact| edit(&mut artifact.locked))
}

/// A Spin artifact's parts, for a test to damage before they are written out: the locked app,
/// the other layers (Wasm and data), and the config's JSON.
pub struct ArtifactParts {
    pub locked: serde_json::Value,
    pub layers: Vec<Blob>,
    pub config: serde_json::Value,
    /// The locked app's media type (Spin's, unless a test changes it).
    pub locked_media_type: String,
}

impl ArtifactParts {
    /// Replaces the Wasm of component `index` with `bytes`, in a layer of their own, and points
    /// the locked app at it: the image is consistent, its Wasm is what the test wants.
    pub fn set_wasm(&mut self, index: usize, bytes: Vec<u8>) {
        let layer = blob(media_types::WASM_LAYER, bytes);
        self.locked["components"][index]["source"]["digest"] = layer.digest.clone().into();
        self.layers.push(layer);
    }

    /// Adds a layer; returns its digest.
    pub fn add_layer(&mut self, media_type: &str, bytes: Vec<u8>) -> String {
        let layer = blob(media_type, bytes);
        let digest = layer.digest.clone();
        self.layers.push(layer);
        digest
    }
}

/// A test app packed as a Spin artifact, with `edit` applied to its parts first.
pub fn spin_artifact_edited(
    app: &str,
    reference: &str,
    dir: &Path,
    edit: impl FnOnce(&mut ArtifactParts),
) -> PathBuf {
    let app = spinrt_app::manifest::load(&crate::apps::manifest_dir(app)).unwrap();
    let image = spinrt_oci::pack(&app).unwrap();
    let mut layers = image.layers.clone();
    let locked = layers.pop().unwrap();
    let mut parts = ArtifactParts {
        locked: serde_json::from_slice(&locked.data).unwrap(),
        layers,
        config: json!({
            "architecture": "wasm", "os": "Wasip1",
            "rootfs": {"type": "layers", "diff_ids": []},
        }),
        locked_media_type: media_types::SPIN_APPLICATION.to_string(),
    };
    edit(&mut parts);
    let mut layers = parts.layers;
    layers.push(blob(
        &parts.locked_media_type,
        serde_json::to_vec(&parts.locked).unwrap(),
    ));
    let mut config = parts.config;
    config["config"]["Labels"][media_types::LOCKED_APP_DIGEST_LABEL] =
        layers.last().unwrap().digest.clone().into();
    let config = blob(
        media_types::OCI_CONFIG,
        serde_json::to_vec(&config).unwrap(),
    );
    write(&image_of(config, layers), reference, dir)
}

/// The hello app as a plain image: `spin.toml` and `hello.wasm` in its rootfs, as an image
/// built with a Dockerfile holds them.
pub fn plain_hello_image(reference: &str, dir: &Path) -> PathBuf {
    let manifest = "spin_manifest_version = 2\n[application]\nname = \"plain\"\n\
                    [[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n\
                    [component.hello]\nsource = \"hello.wasm\"\n";
    let files = [
        ("spin.toml", manifest.as_bytes().to_vec()),
        (
            "hello.wasm",
            std::fs::read(crate::apps::wasm("wasm32-wasip2", "hello")).unwrap(),
        ),
    ];
    plain_image(&files, reference, dir)
}

/// An ordinary Linux image whose rootfs holds `files` (path, bytes), command `/`: no Spin
/// layers at all.
pub fn plain_image(files: &[(&str, Vec<u8>)], reference: &str, dir: &Path) -> PathBuf {
    linux_image(files, &[], &["/"], reference, dir)
}

/// A Linux image holding Debian's static busybox as `/bin/busybox` (mode 0755) and `files`,
/// running `cmd`: the tests' pause image, sidecar and container baseline.
pub fn busybox_image(
    files: &[(&str, Vec<u8>)],
    cmd: &[&str],
    reference: &str,
    dir: &Path,
) -> PathBuf {
    let busybox =
        std::fs::read("/bin/busybox").expect("busybox-static (apt-get install busybox-static)");
    let mut all = vec![("bin/busybox", busybox)];
    all.extend(files.iter().cloned());
    linux_image(&all, &[("bin/busybox", 0o755)], cmd, reference, dir)
}

/// A Linux image whose rootfs holds `files` with the modes `modes` names (others 0644),
/// running `cmd`.
pub fn linux_image(
    files: &[(&str, Vec<u8>)],
    modes: &[(&str, u32)],
    cmd: &[&str],
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
            "config": {"Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        }))
        .unwrap(),
    );
    write(&image_of(config, vec![layer]), reference, dir)
}

pub fn blob(media_type: &str, data: Vec<u8>) -> Blob {
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
