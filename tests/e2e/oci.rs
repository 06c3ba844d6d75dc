//! Spin OCI artifacts: pack -> layout -> read gives back the same app, and broken artifacts
//! fail with errors that name what is wrong.

use std::path::Path;

use spinrt_app::{App, ComponentSource};
use spinrt_oci::layout;
use spinrt_tests::apps;

fn wasm_bytes(source: &ComponentSource) -> Vec<u8> {
    match source {
        ComponentSource::File(p) | ComponentSource::Precompiled(p) => std::fs::read(p).unwrap(),
        ComponentSource::Inline(b) => b.clone(),
    }
}

/// Every file a component sees, as (guest path, bytes), sorted.
fn guest_files(app: &App, id: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for mount in &app.component(id).unwrap().files {
        collect(
            &mount.source,
            &mount.destination.to_string_lossy(),
            &mut out,
        );
    }
    out.sort();
    out
}

fn collect(host: &Path, guest: &str, out: &mut Vec<(String, Vec<u8>)>) {
    if host.is_dir() {
        for e in std::fs::read_dir(host).unwrap() {
            let e = e.unwrap();
            let guest = format!(
                "{}/{}",
                guest.trim_end_matches('/'),
                e.file_name().to_string_lossy()
            );
            collect(&e.path(), &guest, out);
        }
    } else {
        out.push((guest.to_string(), std::fs::read(host).unwrap()));
    }
}

fn round_trip(app: &App, dir: &Path) -> App {
    let image = spinrt_oci::pack(app).unwrap();
    let tar = dir.join("image.tar");
    layout::write_tar(
        &image,
        "localhost/routes:v1",
        std::fs::File::create(&tar).unwrap(),
    )
    .unwrap();
    let read = layout::read(&tar).unwrap();
    spinrt_oci::read(
        &read.config_media_type,
        &read.config,
        &read.layers(),
        &dir.join("work"),
    )
    .unwrap()
}

#[test]
fn pack_then_read_gives_back_the_same_app() {
    let original = spinrt_app::manifest::load(&apps::manifest_dir("routes")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let back = round_trip(&original, dir.path());

    assert_eq!(back.name, original.name);
    assert_eq!(back.version, original.version);
    assert_eq!(back.http_triggers, original.http_triggers);
    assert_eq!(back.variables, original.variables);
    assert_eq!(back.components.len(), original.components.len());
    for c in &original.components {
        let b = back.component(&c.id).unwrap();
        assert_eq!(wasm_bytes(&b.source), wasm_bytes(&c.source), "{}", c.id);
        assert_eq!(b.environment, c.environment, "{}", c.id);
        assert_eq!(b.variables, c.variables, "{}", c.id);
        assert_eq!(
            b.allowed_outbound_hosts, c.allowed_outbound_hosts,
            "{}",
            c.id
        );
        assert_eq!(
            guest_files(&back, &c.id),
            guest_files(&original, &c.id),
            "{}",
            c.id
        );
    }
    assert_eq!(
        guest_files(&back, "fileserver")
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        ["/small.txt", "/sub/large.txt"]
    );
}

#[test]
fn identical_content_is_one_layer_and_the_format_is_spins() {
    let app = spinrt_app::manifest::load(&apps::manifest_dir("routes")).unwrap();
    let image = spinrt_oci::pack(&app).unwrap();
    let types: Vec<_> = image.layers.iter().map(|l| l.media_type.as_str()).collect();
    // Distinct Wasm: echo (p2), echo (p1), hello (p1), fileserver; one large file (the small
    // one is inline); the locked app last.
    let count = |t: &str| types.iter().filter(|x| **x == t).count();
    assert_eq!(count(spinrt_oci::media_types::WASM_LAYER), 4, "{types:?}");
    assert_eq!(count(spinrt_oci::media_types::DATA_LAYER), 1, "{types:?}");
    assert_eq!(types.len(), 6, "{types:?}");
    assert_eq!(
        types.last(),
        Some(&spinrt_oci::media_types::SPIN_APPLICATION)
    );
    let config: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "Wasip1");
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!([]));
    assert_eq!(
        config["config"]["Labels"]["com.fermyon.spin.lockedAppDigest"],
        image.layers.last().unwrap().digest
    );
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.data).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
}
