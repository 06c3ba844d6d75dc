//! Spin artifacts through a real registry (Debian's docker-registry on 127.0.0.1): `spinrt push`,
//! then the same app pulled back by `spinrt up` and by containerd (`ctr images pull
//! --plain-http`), answering exactly as when served from its directory.

use std::net::SocketAddr;
use std::process::Command;

use spinrt_tests::bins::{Up, bin};
use spinrt_tests::containerd::{Containerd, Version, unique_id};
use spinrt_tests::net::blocking_get;
use spinrt_tests::registry::Registry;
use spinrt_tests::{apps, server::echo_lines};

/// Paths that cover each component of the routes app: exact, wildcard, parameters, a wasip1
/// module, inline and layered static files, and no route at all.
const PATHS: [&str; 9] = [
    "/hello",
    "/wild/a/b",
    "/users/7",
    "/users/42/files/a/b",
    "/exact",
    "/static/small.txt",
    "/static/sub/large.txt",
    "/static/../../etc/passwd",
    "/nope",
];

/// `spinrt push` of a test app; returns the digest it printed.
fn push(app: &str, reference: &str) -> String {
    let out = Command::new(bin("spinrt"))
        .args(["push", "--insecure", "--from"])
        .arg(apps::manifest_dir(app))
        .arg(reference)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Each path's status and body, with the addresses of this connection taken out (spin-full-url
/// names the server, spin-client-addr the client's port).
fn answers(addr: SocketAddr) -> Vec<(u16, String)> {
    PATHS
        .iter()
        .map(|path| {
            let (status, body) = blocking_get(addr, path);
            let body: Vec<_> = body
                .replace(&addr.to_string(), "ADDR")
                .lines()
                .filter(|l| !l.starts_with("spin-client-addr: "))
                .map(str::to_string)
                .collect();
            (status, body.join("\n"))
        })
        .collect()
}

#[test]
fn pushed_app_is_pulled_back_and_answers_like_its_directory() {
    let registry = Registry::start();
    let reference = format!("{}/apps/routes:v1", registry.host());
    let digest = push("routes", &reference);
    // The registry holds the very manifest `pack` builds.
    let local = spinrt_app::manifest::load(&apps::manifest_dir("routes")).unwrap();
    assert_eq!(digest, spinrt_oci::pack(&local).unwrap().manifest.digest);

    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache_args = ["--cache-dir", cache.to_str().unwrap()];
    let from_dir = Up::start(
        apps::manifest_dir("routes"),
        &cache_args,
        &dir.path().join("dir.log"),
    );
    let expected = answers(from_dir.addr);
    assert_eq!(expected[0], (200, "Hello from Spin!".into()));
    assert_eq!(
        echo_lines(&expected[3].1)["spin-path-match-user-id"],
        "42",
        "{expected:?}"
    );

    for from in [reference.clone(), format!("{reference}@{digest}")] {
        let mut args = vec!["--insecure"];
        args.extend_from_slice(&cache_args);
        let mut pulled = Up::start(&from, &args, &dir.path().join("pulled.log"));
        assert_eq!(answers(pulled.addr), expected, "served from {from}");
        assert!(pulled.terminate().success());
    }
}

#[test]
fn up_names_what_is_wrong_with_a_reference() {
    let registry = Registry::start();
    let run = |from: &str| {
        let out = Command::new(bin("spinrt"))
            .args([
                "up",
                "--insecure",
                "--no-cache",
                "--listen",
                "127.0.0.1:0",
                "--from",
                from,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{from} was served");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = run(&format!("{}/apps/missing:v1", registry.host()));
    assert!(missing.contains("apps/missing:v1"), "{missing}");
    assert!(missing.to_lowercase().contains("unknown"), "{missing}");
    let unreachable = run("127.0.0.1:1/apps/x:v1");
    assert!(
        unreachable.contains("registry 127.0.0.1:1/apps/x:v1"),
        "{unreachable}"
    );
}

fn containerd_pulls_and_runs_the_pushed_app(version: Version) {
    let registry = Registry::start();
    let reference = format!("{}/apps/routes:v1", registry.host());
    push("routes", &reference);

    let ctd = Containerd::start(version);
    ctd.ctr_ok(&["images", "pull", "--plain-http", &reference]);
    let id = unique_id("pulled");
    let addr = ctd.run_detached(&reference, &id, &[]);
    assert_eq!(
        blocking_get(addr, "/hello"),
        (200, "Hello from Spin!\n".into())
    );
    assert_eq!(
        blocking_get(addr, "/static/sub/large.txt"),
        (200, format!("{}\n", "x".repeat(300)))
    );
    let deleted = ctd.stop(&id);
    assert!(!deleted.contains("non-zero exit"), "{deleted}");
}

#[test]
fn containerd_1_7_pulls_and_runs_the_pushed_app() {
    containerd_pulls_and_runs_the_pushed_app(Version::V1_7);
}

#[test]
fn containerd_2_1_pulls_and_runs_the_pushed_app() {
    containerd_pulls_and_runs_the_pushed_app(Version::V2_1);
}
