//! The `spinrt` binary as a person runs it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use spinrt_tests::{apps, net};

struct Up {
    child: Child,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn up(app: &str, cache: &std::path::Path, port: u16, log: &std::path::Path) -> Up {
    let child = Command::new(spinrt_tests::bins::bin("spinrt"))
        .args(["up", "--from"])
        .arg(apps::manifest_dir(app))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--cache-dir"])
        .arg(cache)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Up { child }
}

#[test]
fn up_serves_and_the_second_start_uses_the_precompile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // routes uses four distinct Wasm files for six components.
    for (run, compiled, cached) in [(1, 4, 0), (2, 0, 4)] {
        let port = net::free_port();
        let log = dir.path().join(format!("run{run}.log"));
        let mut up = up("routes", &cache, port, &log);
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            net::wait_for_listener(addr, Duration::from_secs(60)),
            "run {run} never listened"
        );
        let body = reqwest::blocking_get(&format!("http://{addr}/hello"));
        assert_eq!(body, "Hello from Spin!\n");
        // SIGTERM: a graceful exit with status 0.
        unsafe_sigterm(up.child.id());
        let status = up.child.wait().unwrap();
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

fn unsafe_sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

mod reqwest {
    /// A GET from a synchronous test.
    pub fn blocking_get(url: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            spinrt_tests::net::client()
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    }
}
