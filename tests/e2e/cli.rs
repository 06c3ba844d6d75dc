//! The `spinrt` binary as a person runs it.

use std::process::Command;

use spinrt_tests::bins::Up;
use spinrt_tests::{apps, net};

#[test]
fn up_serves_and_the_second_start_uses_the_precompile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // routes uses four distinct Wasm files for six components.
    for (run, compiled, cached) in [(1, 4, 0), (2, 0, 4)] {
        let log = dir.path().join(format!("run{run}.log"));
        let mut up = Up::start(
            apps::manifest_dir("routes"),
            &["--cache-dir", cache.to_str().unwrap()],
            &log,
        );
        let addr = up.addr;
        assert_eq!(
            net::blocking_get(addr, "/hello"),
            (200, "Hello from Spin!\n".into())
        );
        // SIGTERM: a graceful exit with status 0.
        let status = up.terminate();
        assert!(status.success(), "run {run} exited with {status}");
        let log = std::fs::read_to_string(&log).unwrap();
        let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
        assert_eq!(count("compiled in"), compiled, "run {run}:\n{log}");
        assert_eq!(
            count("loaded from the precompile cache"),
            cached,
            "run {run}:\n{log}"
        );
        assert_eq!(
            count("same Wasm as an already loaded component"),
            2,
            "run {run}:\n{log}"
        );
        assert!(
            log.contains(&format!("http://{addr}/users/:user_id -> echo-param")),
            "{log}"
        );
    }
}

#[test]
fn bad_manifest_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), "spin_manifest_version = 7\n").unwrap();
    let out = Command::new(spinrt_tests::bins::bin("spinrt"))
        .args(["up", "--no-cache", "--from"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown manifest version 7"), "{stderr}");
}
