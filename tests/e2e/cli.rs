//! The `spinrt` binary as a person runs it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use spinrt_tests::bins::Up;
use spinrt_tests::{apps, net};

#[test]
fn up_serves_and_the_second_start_uses_the_precompile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // routes uses seven distinct Wasm files for nine components.
    for (run, compiled, cached) in [(1, 7, 0), (2, 0, 7)] {
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

/// Runs `spinrt up --from DIR`, which must fail at load; its stderr. A user's error is printed
/// as its reason, without a stack trace even where developers asked for them.
fn up_refuses(dir: &Path) -> String {
    let out = Command::new(spinrt_tests::bins::bin("spinrt"))
        .args(["up", "--no-cache", "--from"])
        .arg(dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("Error: "), "{stderr}");
    assert!(
        !stderr.to_lowercase().contains("backtrace"),
        "a stack trace for a user's error:\n{stderr}"
    );
    stderr
}

#[test]
fn bad_manifest_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), "spin_manifest_version = 7\n").unwrap();
    let stderr = up_refuses(dir.path());
    assert!(stderr.contains("unknown manifest version 7"), "{stderr}");
}

/// Runs `spinrt up ARGS` in `dir` (stderr to `log`) until it listens, exits (a load error) or a
/// minute has passed; the answer to `GET /hello` if it listened, and the log.
fn hello_from_up_in(dir: &Path, args: &[&str], log: &Path) -> (Option<(u16, String)>, String) {
    let addr: SocketAddr = format!("127.0.0.1:{}", net::free_port()).parse().unwrap();
    let mut child = Command::new(spinrt_tests::bins::bin("spinrt"))
        .current_dir(dir)
        .args(["up", "--no-cache", "--listen", &addr.to_string()])
        .args(args)
        // Only a .env file may provide it (a_dotenv_file_in_the_working_directory_...).
        .env_remove("SPIN_VARIABLE_TOKEN")
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut listening = false;
    while !listening && child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        listening = net::wait_for_listener(addr, Duration::from_millis(200));
    }
    let answer = listening.then(|| net::blocking_get(addr, "/hello"));
    let _ = child.kill();
    child.wait().unwrap();
    (answer, std::fs::read_to_string(log).unwrap())
}

#[test]
fn a_bare_manifest_file_name_is_found_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let (answer, log) = hello_from_up_in(
        &apps::manifest_dir("hello"),
        &["--from", "spin.toml", "--state-dir", state],
        &dir.path().join("up.log"),
    );
    assert_eq!(answer, Some((200, "Hello from Spin!\n".into())), "{log}");
}

/// Of WASI 0.2.0-rc-2023-10-18 only what spin-sdk 2.x apps import is implemented (tests/e2e/
/// sdk2.rs); a component that imports more of it (here a hand-made one that only imports the
/// release candidate's wall clock) is refused at load with the interfaces named, not with the
/// linker's "matching implementation was not found".
#[test]
fn a_component_importing_other_wasi_release_candidates_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let component = wat::parse_str(
        r#"(component
             (import "wasi:clocks/wall-clock@0.2.0-rc-2023-10-18" (instance
               (export "now" (func (result u64))))))"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("clock.wasm"), component).unwrap();
    std::fs::write(
        dir.path().join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"rc\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"clock\"\n\
         [component.clock]\nsource = \"clock.wasm\"\n",
    )
    .unwrap();
    let stderr = up_refuses(dir.path());
    for expected in [
        "component 'clock': cannot be linked: it imports WASI 0.2 release-candidate interfaces \
         this runtime does not implement (wasi:clocks/wall-clock@0.2.0-rc-2023-10-18)",
        "wasi:http/outgoing-handler@0.2.0-rc-2023-10-18",
        "rebuild the app against WASI 0.2",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
    }
}

/// As `spin up` does, a `.env` file in the working directory provides `SPIN_VARIABLE_*` values
/// the environment lacks: without it, the app's required variable stops it at load.
#[test]
fn a_dotenv_file_in_the_working_directory_provides_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spin.toml"),
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"dotenv\"\n\
             [variables]\ntoken = {{ required = true }}\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n\
             [component.hello]\nsource = {:?}\n",
            apps::wasm("wasm32-wasip2", "hello")
        ),
    )
    .unwrap();
    let up = |log: &str| hello_from_up_in(dir.path(), &[], &dir.path().join(log));
    let (answer, log) = up("without.log");
    assert_eq!(answer, None, "{log}");
    assert!(log.contains("SPIN_VARIABLE_TOKEN"), "{log}");

    std::fs::write(dir.path().join(".env"), "SPIN_VARIABLE_TOKEN=from-dotenv\n").unwrap();
    let (answer, log) = up("with.log");
    assert_eq!(answer, Some((200, "Hello from Spin!\n".into())), "{log}");
}
