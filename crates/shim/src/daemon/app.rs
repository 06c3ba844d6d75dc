//! What a container runs: a Spin artifact, a plain image whose command names a `spin.toml`,
//! or neither (a Linux container); for a Spin app, its Wasm compiled once per node.

use std::path::Path;

use oci_spec::runtime::Spec;

use crate::daemon::content::{self, ContainerImage, Store};
use crate::daemon::exits::Exits;
use crate::daemon::plain;
use crate::daemon::precompile::{self, MachineCode};
use crate::daemon::spin::SpinApp;

/// A Spin artifact's image, or a plain image whose command names a `spin.toml`; `None` for a
/// Linux container. Either way the Wasm is compiled once per node.
pub fn spin_app(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    id: &str,
    spec: &Spec,
    rootfs: &Path,
    exits: &Exits,
) -> anyhow::Result<Option<SpinApp>> {
    let target = match rt.block_on(content::image(store, id))? {
        ContainerImage::Spin(mut image) => {
            let names: Vec<String> = image
                .layers
                .iter()
                .map(|l| components_of(&image, &l.digest))
                .collect();
            for (layer, name) in image.layers.iter_mut().zip(names) {
                if !precompile::is_wasm(&layer.media_type) {
                    continue;
                }
                let read = || Ok(rt.block_on(store.read(&layer.digest))?);
                let code = precompile::machine_code(
                    rt,
                    store,
                    &layer.digest,
                    &name,
                    &layer.digest,
                    read,
                    exits,
                )?;
                match code {
                    MachineCode::File(path) => {
                        layer.bytes = Vec::new();
                        layer.file = Some(path);
                    }
                    MachineCode::Bytes(code) => layer.bytes = code,
                }
                layer.precompiled = true;
            }
            return Ok(Some(SpinApp::Artifact(image)));
        }
        ContainerImage::Other { target } => target,
    };
    let command = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .and_then(|a| a.first().cloned())
        .unwrap_or_default();
    let inside = Path::new(&command);
    let on_host = rootfs.join(inside.strip_prefix("/").unwrap_or(inside));
    let Some(manifest) = crate::serve::manifest_at(&on_host) else {
        return Ok(None);
    };
    let mut compiled = Vec::new();
    if let (Some(target), Ok(manifest)) = (target, manifest.strip_prefix(rootfs)) {
        // Best effort: what cannot be read or compiled here, the server compiles itself
        // and reports.
        let wasm = plain::component_wasm(rootfs, &Path::new("/").join(manifest));
        match wasm.and_then(|wasm| {
            wasm.into_iter()
                .map(|w| {
                    let code = precompile::machine_code(
                        rt,
                        store,
                        &target,
                        &w.digest,
                        &w.digest,
                        || Ok(w.bytes),
                        exits,
                    )?;
                    Ok((w.digest, code))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        }) {
            Ok(codes) => compiled = codes,
            Err(e) => log::warn!("container {id}: not precompiled: {e:#}"),
        }
    }
    Ok(Some(SpinApp::Manifest {
        path: inside.into(),
        compiled,
    }))
}

/// The ids of the components whose source is the layer `digest`, as the artifact's locked app
/// names them, so a compile error names what the user wrote; the digest when it names none.
fn components_of(image: &content::SpinImage, digest: &str) -> String {
    let locked = std::iter::once(&image.config)
        .chain(&image.layers)
        .find(|b| b.media_type == spinrt_oci::media_types::SPIN_APPLICATION)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b.bytes).ok());
    let ids: Vec<&str> = locked
        .iter()
        .flat_map(|l| l["components"].as_array().into_iter().flatten())
        .filter(|c| c["source"]["digest"] == digest)
        .filter_map(|c| c["id"].as_str())
        .collect();
    if ids.is_empty() {
        digest.to_string()
    } else {
        ids.join(", ")
    }
}
