//! A corpus of bad images and apps, each run through containerd and the shim (`ctr run`, as a
//! person or kubelet starts a task), not only through the reader: damaged artifacts, broken
//! locked apps and manifests, Wasm that is not Wasm, apps that reach outside themselves, and
//! extreme but valid apps. Each bad one must fail its task within seconds with an error naming
//! what was wrong, on the task's stderr (what `ctr run` and `kubectl logs` show), and leave
//! nothing behind; containerd stays healthy and the node serves a good image afterwards.
//!
//! These tests start containerd, so they need root (CI runs as root).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use spinrt_tests::containerd::{Containerd, RUNTIME, Version, unique_id};
use spinrt_tests::images::{self, ArtifactParts};
use spinrt_tests::net::{self, blocking_get};

/// A bad task must have failed by then (debug builds included).
const FAIL_WITHIN: Duration = Duration::from_secs(20);

/// How a case's image is made: into the directory, under the reference.
type Build = Box<dyn Fn(&Path, &str) -> PathBuf>;

struct Case {
    name: &'static str,
    build: Build,
    /// Done to containerd's content store after the import (a blob damaged on disk).
    damage: Option<fn(&Containerd, &str)>,
    /// What the task's error must say.
    reason: &'static str,
}

fn artifact(app: &'static str, edit: impl Fn(&mut ArtifactParts) + 'static) -> Build {
    Box::new(move |dir, reference| images::spin_artifact_edited(app, reference, dir, &edit))
}

fn locked(edit: impl Fn(&mut serde_json::Value) + 'static) -> Build {
    artifact("hello", move |parts| edit(&mut parts.locked))
}

fn wasm(bytes: impl Fn() -> Vec<u8> + 'static) -> Build {
    artifact("hello", move |parts| parts.set_wasm(0, bytes()))
}

/// A plain image: `spin.toml` holding `manifest` and `files`, beside hello's Wasm as
/// `hello.wasm`.
fn plain(manifest: &'static str, files: &'static [(&'static str, &'static [u8])]) -> Build {
    Box::new(move |dir, reference| {
        let mut all = vec![
            ("spin.toml", manifest.as_bytes().to_vec()),
            ("hello.wasm", hello_wasm()),
        ];
        all.extend(files.iter().map(|(p, b)| (*p, b.to_vec())));
        images::plain_image(&all, reference, dir)
    })
}

fn hello_wasm() -> Vec<u8> {
    std::fs::read(spinrt_tests::apps::wasm("wasm32-wasip2", "hello")).unwrap()
}

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

/// A trigger of the hello app with `config` as its trigger config.
fn http_trigger(id: &str, config: serde_json::Value) -> serde_json::Value {
    json!({"id": id, "trigger_type": "http", "trigger_config": config})
}

/// The layer blob `digest` of containerd's content store, on disk.
fn blob_file(ctd: &Containerd, digest: &str) -> PathBuf {
    ctd.dir()
        .join("root/io.containerd.content.v1.content/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Every Wasm layer's blob of image `reference`, on disk.
fn wasm_blobs(ctd: &Containerd, reference: &str) -> Vec<PathBuf> {
    let target = ctd
        .ctr_ok(&["images", "ls"])
        .lines()
        .find(|l| l.starts_with(reference))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        .expect("the image is listed");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob_file(ctd, &target)).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["mediaType"] == spinrt_oci::media_types::WASM_LAYER)
        .map(|l| blob_file(ctd, l["digest"].as_str().unwrap()))
        .collect()
}

fn cases() -> Vec<Case> {
    let case = |name, build, reason| Case {
        name,
        build,
        damage: None,
        reason,
    };
    let mut cases = vec![
        // The locked app.
        case(
            "missing-component",
            locked(|l| l["triggers"][0]["trigger_config"]["component"] = "ghost".into()),
            "ghost",
        ),
        case(
            "locked-app-of-wrong-shape",
            locked(|l| *l = json!({"spin_lock_version": 1, "triggers": "nope"})),
            "invalid locked app",
        ),
        case(
            "locked-app-empty-object",
            locked(|l| *l = json!({})),
            "invalid locked app",
        ),
        case(
            "locked-app-from-the-future",
            locked(|l| l["spin_lock_version"] = 99.into()),
            "spin_lock_version 99",
        ),
        case(
            "locked-app-must-understand",
            locked(|l| l["must_understand"] = json!(["teleportation"])),
            "teleportation",
        ),
        case(
            "locked-app-not-json",
            artifact("hello", |p| p.locked = json!("not a locked app")),
            "invalid locked app",
        ),
        case(
            "no-locked-app-layer",
            artifact("hello", |p| {
                p.locked_media_type = "application/vnd.example.unknown".into()
            }),
            "no locked app layer",
        ),
        case(
            "missing-wasm-layer",
            locked(|l| {
                l["components"][0]["source"]["digest"] = format!("sha256:{}", "0".repeat(64)).into()
            }),
            "is missing from the image",
        ),
        case(
            "component-source-without-digest",
            locked(|l| l["components"][0]["source"] = json!({"content_type": "application/wasm"})),
            "hello",
        ),
        case(
            "unknown-trigger-type",
            locked(|l| l["triggers"][0]["trigger_type"] = "carrier-pigeon".into()),
            "carrier-pigeon",
        ),
        case(
            "duplicate-routes",
            locked(|l| {
                let second = http_trigger("second", json!({"component": "hello", "route": "/..."}));
                l["triggers"].as_array_mut().unwrap().push(second);
            }),
            "duplicate route",
        ),
        case(
            "route-not-a-string",
            locked(|l| l["triggers"][0]["trigger_config"]["route"] = 42.into()),
            "route",
        ),
        case(
            "unknown-executor",
            locked(|l| {
                l["triggers"][0]["trigger_config"]["executor"] = json!({"type": "teleport"})
            }),
            "teleport",
        ),
        case(
            "file-outside-the-app",
            artifact("hello", |p| {
                let digest = p.add_layer(spinrt_oci::media_types::DATA_LAYER, b"x".to_vec());
                p.locked["components"][0]["files"] =
                    json!([{"digest": digest, "path": "../../../etc/cron.d/evil"}]);
            }),
            "../../../etc/cron.d/evil",
        ),
        case(
            "file-content-missing",
            locked(|l| {
                l["components"][0]["files"] = json!([{
                    "digest": format!("sha256:{}", "1".repeat(64)),
                    "path": "/data.txt"
                }])
            }),
            "is missing from the image",
        ),
        case(
            "outbound-host-naming-an-unknown-variable",
            locked(|l| {
                l["components"][0]["metadata"]["allowed_outbound_hosts"] =
                    json!(["https://{{ nowhere_to_be_found }}.example.com"])
            }),
            "nowhere_to_be_found",
        ),
        case(
            "unknown-layer-media-type",
            artifact("hello", |p| {
                p.add_layer("application/vnd.example.mystery", b"?".to_vec());
            }),
            "application/vnd.example.mystery",
        ),
        case(
            "required-variable-without-value",
            locked(|l| l["variables"] = json!({"api_key": {"required": true}})),
            "api_key",
        ),
        case(
            "bad-outbound-host-rule",
            locked(|l| {
                l["components"][0]["metadata"]["allowed_outbound_hosts"] = json!(["not a url"])
            }),
            "not a url",
        ),
        case(
            "unknown-key-value-store",
            locked(|l| l["components"][0]["metadata"]["key_value_stores"] = json!(["nowhere"])),
            "nowhere",
        ),
        case(
            "host-requirement",
            locked(|l| l["host_requirements"] = json!({"quantum-computer": "required"})),
            "quantum-computer",
        ),
        // The Wasm.
        case("zero-byte-wasm", wasm(Vec::new), "hello"),
        case(
            "text-as-wasm",
            wasm(|| b"this is not WebAssembly\n".to_vec()),
            "hello",
        ),
        case(
            "truncated-wasm",
            wasm(|| {
                let mut w = hello_wasm();
                w.truncate(w.len() / 2);
                w
            }),
            "hello",
        ),
        case(
            "wasm-of-an-unknown-version",
            wasm(|| b"\0asm\x2a\0\0\0".to_vec()),
            "hello",
        ),
        case(
            "component-importing-an-unknown-interface",
            wasm(|| {
                wat(r#"(component
                    (import "spin:unknown/teleport@1.0.0" (instance (export "go" (func))))
                )"#)
            }),
            "spin:unknown/teleport@1.0.0",
        ),
        case(
            "core-module-without-component-type",
            wasm(|| {
                wat(r#"(module (import "teleport" "go" (func)) (memory (export "memory") 1))"#)
            }),
            "no Spin 1 HTTP module",
        ),
        case(
            "component-without-a-handler",
            wasm(|| wat("(component)")),
            "exports no HTTP handler",
        ),
        // Plain images: spin.toml in the rootfs.
        case(
            "plain-manifest-not-toml",
            plain("this is = = not toml", &[]),
            "spin.toml",
        ),
        case(
            "plain-manifest-version-3",
            plain("spin_manifest_version = 3\n", &[]),
            "spin_manifest_version",
        ),
        case(
            "plain-wasm-missing",
            plain(
                "spin_manifest_version = 2\n[application]\nname = \"p\"\n\
                 [[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n\
                 [component.c]\nsource = \"gone.wasm\"\n",
                &[],
            ),
            "gone.wasm",
        ),
        case(
            "plain-source-outside-the-rootfs",
            plain(
                "spin_manifest_version = 2\n[application]\nname = \"p\"\n\
                 [[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n\
                 [component.c]\nsource = \"../../../../../../bin/busybox\"\n",
                &[],
            ),
            "busybox",
        ),
        case(
            "plain-wasm-is-text",
            plain(
                "spin_manifest_version = 2\n[application]\nname = \"p\"\n\
                 [[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n\
                 [component.c]\nsource = \"c.wasm\"\n",
                &[("c.wasm", b"plain text\n")],
            ),
            "'c'",
        ),
    ];
    // Blobs damaged in containerd's content store after the import (of apps of their own:
    // containerd keeps one copy of a blob, and it stays damaged).
    cases.push(Case {
        name: "wasm-blob-damaged-on-disk",
        build: artifact("echo", |_| {}),
        damage: Some(|ctd, reference| {
            for blob in wasm_blobs(ctd, reference) {
                let mut bytes = std::fs::read(&blob).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0xff;
                std::fs::write(&blob, bytes).unwrap();
            }
        }),
        reason: "content has digest",
    });
    cases.push(Case {
        name: "wasm-blob-truncated-on-disk",
        build: artifact("spin1", |_| {}),
        damage: Some(|ctd, reference| {
            for blob in wasm_blobs(ctd, reference) {
                let bytes = std::fs::read(&blob).unwrap();
                std::fs::write(&blob, &bytes[..bytes.len() / 3]).unwrap();
            }
        }),
        reason: "sha256:",
    });
    cases
}

/// `ctr run --rm` of a bad image: fails within [`FAIL_WITHIN`]; its output.
fn run_bad(ctd: &Containerd, reference: &str, id: &str) -> (bool, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let listen = format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{}", net::free_port());
    let started = Instant::now();
    let mut ctr = ctd
        .ctr_command(&[
            "run",
            "--rm",
            "--runtime",
            RUNTIME,
            "--net-host",
            "--env",
            &listen,
            reference,
            id,
            "/",
        ])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = ctr.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > FAIL_WITHIN {
            let _ = ctr.kill();
            let _ = ctr.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!(
        "{}{}",
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    (
        status.is_some_and(|s| !s.success()),
        output,
        started.elapsed(),
    )
}

fn bad_images_fail_with_the_reason(version: Version) {
    let ctd = Containerd::start(version);
    let leases = ctd.leases("default");
    let mut slowest = Duration::ZERO;
    let mut problems = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    for case in &cases {
        let name = case.name;
        let reference = format!("localhost/{name}:v1");
        let tar = (case.build)(ctd.dir(), &reference);
        ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
        if let Some(damage) = case.damage {
            damage(&ctd, &reference);
        }
        let id = unique_id(name);
        let (failed, output, took) = run_bad(&ctd, &reference, &id);
        let problem = if took >= FAIL_WITHIN {
            // It may be serving: end it, so what follows checks the clean-up.
            let _ = ctd.ctr(&["task", "kill", "--signal", "SIGKILL", &id]);
            ctd.wait_for_status(&id, "STOPPED", Duration::from_secs(10));
            let _ = ctd.ctr(&["task", "delete", &id]);
            let _ = ctd.ctr(&["container", "delete", &id]);
            Some(format!("still running after {FAIL_WITHIN:?}"))
        } else if !failed {
            Some("ctr run succeeded".to_string())
        } else if !output.contains(case.reason) {
            Some(format!("the error does not say {:?}", case.reason))
        } else if output.contains("panicked") || output.contains("stack backtrace") {
            Some("a panic, not an error".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            problems.push(format!("{name}: {problem}:\n{output}"));
        }
        slowest = slowest.max(took);
        ctd.assert_nothing_left(name, &[&id], &leases);
        ctd.ctr_ok(&["images", "rm", &reference]);
    }
    assert!(
        problems.is_empty(),
        "{} of {} bad images:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
    eprintln!(
        "{} bad images on containerd {version:?}: each failed with its reason, the slowest in {slowest:?}",
        cases.len()
    );
    // containerd is healthy, and a good image still serves.
    let tar = images::spin_artifact("hello", "localhost/hello:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("good");
    let addr = ctd.run_detached("localhost/hello:v1", &id, &[]);
    assert_eq!(blocking_get(addr, "/"), (200, "Hello from Spin!\n".into()));
    ctd.stop(&id);
}

#[test]
fn bad_images_fail_with_the_reason_under_containerd_2_1() {
    bad_images_fail_with_the_reason(Version::V2_1);
}

#[test]
fn bad_images_fail_with_the_reason_under_containerd_1_7() {
    bad_images_fail_with_the_reason(Version::V1_7);
}

/// Size of the data layer of [`a_large_data_layer_is_served_under_a_small_memory_limit`]: four
/// times the container's memory limit (a 1 GiB layer behaves the same, see the README; this
/// keeps the test's disk use under 1 GiB).
const LARGE_LAYER: usize = 256 << 20;

/// A data layer much larger than the container's memory limit is served: neither the shim
/// daemon nor the server reads it into memory (the server maps the content store's file and
/// copies it into the app's files), so the container is not OOM-killed at start.
#[test]
fn a_large_data_layer_is_served_under_a_small_memory_limit() {
    let ctd = Containerd::start(Version::V2_1);
    let reference = "localhost/large-layer:v1";
    let tar = images::spin_artifact_edited("routes", reference, ctd.dir(), |parts| {
        let digest = parts.add_layer(spinrt_oci::media_types::DATA_LAYER, vec![0x5a; LARGE_LAYER]);
        // Only the file server of the routes app (and only its layers), with the large file.
        let locked = &mut parts.locked;
        let keep = |c: &serde_json::Value| c["id"] == "fileserver";
        locked["components"].as_array_mut().unwrap().retain(keep);
        locked["triggers"]
            .as_array_mut()
            .unwrap()
            .retain(|t| t["trigger_config"]["component"] == "fileserver");
        let fileserver = &mut locked["components"][0];
        fileserver["files"]
            .as_array_mut()
            .unwrap()
            .push(json!({"digest": digest, "path": "/large.bin"}));
        let used = fileserver.to_string();
        parts.layers.retain(|l| used.contains(&l.digest));
    });
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    std::fs::remove_file(&tar).unwrap();
    let id = unique_id("large");
    let started = Instant::now();
    let limit = (LARGE_LAYER / 4).to_string();
    let addr = ctd.run_detached(reference, &id, &["--memory-limit", &limit]);
    let took = started.elapsed();
    let (status, size) = net::block_on(async {
        let res = net::client()
            .get(format!("http://{addr}/static/large.bin"))
            .header("x-stat", "size")
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    });
    assert_eq!(
        (status, size.trim()),
        (200, LARGE_LAYER.to_string().as_str())
    );
    assert_eq!(blocking_get(addr, "/static/small.txt").0, 200);
    eprintln!(
        "a {} MiB data layer under a {} MiB memory limit: serving {took:?} after ctr run",
        LARGE_LAYER >> 20,
        LARGE_LAYER >> 22
    );
    let deleted = ctd.stop(&id);
    assert!(!deleted.contains("non-zero exit"), "{deleted}");
}

/// Apps at the edge of what is reasonable are served, and soon: thousands of routes, and a
/// locked app of 16 MiB.
#[test]
fn extreme_but_valid_apps_are_served_within_seconds() {
    let ctd = Containerd::start(Version::V2_1);
    let cases: [(&str, Build, &str); 2] = [
        (
            "five-thousand-routes",
            locked(|l| {
                l["triggers"] = (0..5000)
                    .map(|i| {
                        http_trigger(
                            &format!("t{i}"),
                            json!({"component": "hello", "route": format!("/r{i}/...")}),
                        )
                    })
                    .collect();
            }),
            "/r4999/x",
        ),
        (
            "sixteen-mib-locked-app",
            locked(|l| l["metadata"]["padding"] = "x".repeat(16 << 20).into()),
            "/",
        ),
    ];
    for (name, build, path) in cases {
        let reference = format!("localhost/{name}:v1");
        let tar = build(ctd.dir(), &reference);
        ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
        let id = unique_id(name);
        let started = Instant::now();
        let addr = ctd.run_detached(&reference, &id, &[]);
        assert_eq!(
            blocking_get(addr, path),
            (200, "Hello from Spin!\n".into()),
            "{name}"
        );
        let took = started.elapsed();
        assert!(took < FAIL_WITHIN, "{name}: served after {took:?}");
        eprintln!("{name}: served {took:?} after ctr run");
        let deleted = ctd.stop(&id);
        assert!(!deleted.contains("non-zero exit"), "{name}: {deleted}");
    }
}
