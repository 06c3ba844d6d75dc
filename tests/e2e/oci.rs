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
    layout::read(&tar)
        .unwrap()
        .read_app(&dir.join("work"))
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
    // Distinct Wasm: echo (p2), echo (p1), hello (p1), fileserver, sdk2, spin1, sdk7; one large
    // file (the small one is inline); the locked app last.
    let count = |t: &str| types.iter().filter(|x| **x == t).count();
    assert_eq!(count(spinrt_oci::media_types::WASM_LAYER), 7, "{types:?}");
    assert_eq!(count(spinrt_oci::media_types::DATA_LAYER), 1, "{types:?}");
    assert_eq!(types.len(), 9, "{types:?}");
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

/// A packed app's parts, to break one at a time.
struct Parts {
    config: Vec<u8>,
    layers: Vec<(String, String, Vec<u8>)>,
}

impl Parts {
    fn of(app: &str) -> Self {
        let app = spinrt_app::manifest::load(&apps::manifest_dir(app)).unwrap();
        let image = spinrt_oci::pack(&app).unwrap();
        Self {
            config: image.config.data,
            layers: image
                .layers
                .into_iter()
                .map(|l| (l.media_type, l.digest, l.data))
                .collect(),
        }
    }

    fn locked(&self) -> serde_json::Value {
        serde_json::from_slice(&self.layers.last().unwrap().2).unwrap()
    }

    /// Replaces the locked app (and the config label that names its digest).
    fn set_locked(&mut self, locked: &serde_json::Value) {
        let data = serde_json::to_vec(locked).unwrap();
        let digest = spinrt_oci::sha256_digest(&data);
        let last = self.layers.last_mut().unwrap();
        *last = (last.0.clone(), digest.clone(), data);
        let mut config: serde_json::Value = serde_json::from_slice(&self.config).unwrap();
        config["config"]["Labels"]["com.fermyon.spin.lockedAppDigest"] = digest.into();
        self.config = serde_json::to_vec(&config).unwrap();
    }

    fn read(&self, work: &Path) -> Result<App, spinrt_oci::OciError> {
        let layers: Vec<_> = self
            .layers
            .iter()
            .map(|(media_type, digest, bytes)| spinrt_oci::Layer {
                media_type,
                digest,
                bytes,
                precompiled: false,
                compiled_file: None,
            })
            .collect();
        spinrt_oci::read(
            spinrt_oci::media_types::OCI_CONFIG,
            &self.config,
            &layers,
            work,
        )
    }
}

#[test]
fn malformed_artifacts_fail_with_errors_naming_the_problem() {
    type Break = Box<dyn Fn(&mut Parts)>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "bad digest",
            Box::new(|p| p.layers[0].2.push(0)),
            "digest mismatch",
        ),
        (
            "missing wasm layer",
            Box::new(|p| {
                p.layers.remove(0);
            }),
            "is missing from the image",
        ),
        (
            "bad config JSON",
            Box::new(|p| p.config = b"{not json".to_vec()),
            "image config is not JSON",
        ),
        (
            "unknown media type",
            Box::new(|p| p.layers[0].0 = "application/vnd.oci.image.layer.v1.tar".into()),
            "unknown layer media type 'application/vnd.oci.image.layer.v1.tar'",
        ),
        (
            "no locked app",
            Box::new(|p| {
                p.layers.pop();
            }),
            "not a Spin app image",
        ),
        (
            "two locked apps",
            Box::new(|p| {
                let last = p.layers.last().unwrap().clone();
                p.layers.push(last);
            }),
            "more than one locked app layer",
        ),
        (
            "label names another locked app",
            Box::new(|p| {
                let mut config: serde_json::Value = serde_json::from_slice(&p.config).unwrap();
                config["config"]["Labels"]["com.fermyon.spin.lockedAppDigest"] =
                    format!("sha256:{}", "1".repeat(64)).into();
                p.config = serde_json::to_vec(&config).unwrap();
            }),
            "com.fermyon.spin.lockedAppDigest",
        ),
        (
            "broken locked app",
            Box::new(|p| {
                p.set_locked(&serde_json::json!({"spin_lock_version": 1, "components": 3}))
            }),
            "invalid locked app",
        ),
        (
            "path traversal in a file mount",
            Box::new(|p| {
                let mut locked = p.locked();
                let files = locked["components"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|c| c["id"] == "fileserver")
                    .unwrap()["files"]
                    .as_array_mut()
                    .unwrap();
                files[0]["path"] = "../../../../etc/passwd".into();
                p.set_locked(&locked);
            }),
            "'..' would leave the app directory",
        ),
        (
            "component id that is a path",
            Box::new(|p| {
                let mut locked = p.locked();
                locked["components"][0]["id"] = "../escape".into();
                p.set_locked(&locked);
            }),
            "'../escape' is not a valid id",
        ),
        (
            "unsupported lock version",
            Box::new(|p| {
                let mut locked = p.locked();
                locked["spin_lock_version"] = 9.into();
                p.set_locked(&locked);
            }),
            "spin_lock_version 9",
        ),
    ];
    assert!(cases.len() >= 8);
    for (case, break_it, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let mut parts = Parts::of("routes");
        break_it(&mut parts);
        let err = match parts.read(&work) {
            Ok(_) => panic!("{case}: read succeeded"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(expected),
            "{case}: error does not say {expected:?}: {err}"
        );
        // Nothing was written outside the work directory.
        let outside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "work")
            .collect();
        assert!(
            outside.is_empty(),
            "{case}: wrote {outside:?} outside the work dir"
        );
    }
}
