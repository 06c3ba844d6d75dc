//! The shim under a real containerd (1.7 and 2.1): images imported with `ctr images import`,
//! tasks started with `ctr run --runtime io.containerd.spin.v2`, answers over loopback.
//!
//! These tests start containerd and tasks, so they need root (CI runs as root).

use std::net::SocketAddr;
use std::time::Duration;

use spinrt_tests::containerd::{Containerd, RUNTIME, START_TIMEOUT, Version, unique_id};
use spinrt_tests::net::{blocking_get, blocking_request};
use spinrt_tests::{apps, images, net, server::echo_lines};

fn spin_artifact_is_served(version: Version) {
    apps::ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(version);
    let tar = images::spin_artifact("routes", "localhost/routes:v1", dir.path());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);

    let id = unique_id("routes");
    let addr = ctd.run_detached("localhost/routes:v1", &id, &[]);
    let socket = ctd.shim_socket(&id);
    assert!(socket.exists(), "no shim socket at {}", socket.display());
    assert!(
        ctd.tasks()
            .iter()
            .any(|(t, _, s)| *t == id && s == "RUNNING")
    );

    assert_eq!(
        blocking_get(addr, "/hello"),
        (200, "Hello from Spin!\n".into())
    );
    let (status, body) = blocking_get(addr, "/users/42/files/a/b");
    assert_eq!(status, 200, "{body}");
    let h = echo_lines(&body);
    assert_eq!(h["component"], "echo-param-wild");
    assert_eq!(h["spin-path-match-user-id"], "42");
    assert_eq!(h["spin-path-info"], "/a/b");
    assert_eq!(
        h["spin-full-url"],
        format!("http://{addr}/users/42/files/a/b")
    );
    assert_eq!(
        blocking_get(addr, "/static/sub/large.txt"),
        (200, format!("{}\n", "x".repeat(300)))
    );
    assert_eq!(
        blocking_get(addr, "/static/small.txt"),
        (200, "tiny\n".into())
    );
    assert_eq!(
        blocking_get(addr, "/legacy/hi"),
        (200, "Hello from /legacy/hi\n".into())
    );
    assert_eq!(
        blocking_request(addr, "PUT", "/spin1/echo", "in a pod"),
        (200, "method=PUT path-info=/echo body=in a pod".into())
    );
    // The WASI 0.3 component (spin-sdk 7) beside the 0.2 ones: as in Spin, one instance
    // serves requests in turn (the count of requests its instance served goes up), its body
    // streamed from a task it spawned.
    let served: Vec<u32> = (0..5)
        .map(|_| {
            let (status, body) = blocking_get(addr, "/p3/requests");
            assert_eq!(status, 200, "{body}");
            body.parse().unwrap()
        })
        .collect();
    assert!(
        served.iter().any(|n| *n > 1),
        "no instance reused: {served:?}"
    );
    let (status, body) = blocking_get(addr, "/p3/count?n=300");
    assert_eq!(status, 200);
    assert_eq!(body.lines().count(), 300);
    assert_eq!(body.lines().last(), Some("line 300"));
    assert_eq!(blocking_get(addr, "/nope").0, 404);
    assert_eq!(
        blocking_get(addr, "/.well-known/spin/health"),
        (200, "OK".into())
    );

    let deleted = ctd.stop(&id);
    assert!(
        !deleted.contains("non-zero exit"),
        "SIGTERM did not exit 0: {deleted}"
    );
    assert!(ctd.tasks().is_empty());
    assert!(
        ctd.shim_processes().is_empty(),
        "shim processes left: {:?}",
        ctd.shim_processes()
    );
    assert!(ctd.mounts().is_empty(), "mounts left: {:?}", ctd.mounts());
    assert!(!socket.exists(), "shim socket left: {}", socket.display());
    assert_no_errors(&ctd.log());
}

#[test]
fn spin_artifact_is_served_by_containerd_1_7() {
    spin_artifact_is_served(Version::V1_7);
}

#[test]
fn spin_artifact_is_served_by_containerd_2_1() {
    spin_artifact_is_served(Version::V2_1);
}

#[test]
fn plain_image_with_spin_toml_in_its_rootfs_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::plain_hello_image("localhost/plain:v1", dir.path());
    ctd.ctr_ok(&["images", "import", tar.to_str().unwrap()]);
    for _ in 0..3 {
        let id = unique_id("plain");
        let addr = ctd.run_detached("localhost/plain:v1", &id, &[]);
        assert_eq!(blocking_get(addr, "/x"), (200, "Hello from Spin!\n".into()));
        let deleted = ctd.stop(&id);
        assert!(!deleted.contains("non-zero exit"), "{deleted}");
    }
    // Compiled once, by the shim, and kept with the image: later tasks map the machine code.
    let log = ctd.log();
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(count("machine code stored as"), 1, "{log}");
    assert_eq!(count("machine code from the content store"), 2, "{log}");
    assert_no_errors(&log);
}

/// A first run (a cache miss) is ordinary: nothing in containerd's log (the shim's lines
/// included, with their levels) reads as an error.
fn assert_no_errors(log: &str) {
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("level=error")).collect();
    assert!(
        errors.is_empty(),
        "errors logged on a normal run: {errors:#?}"
    );
}

#[test]
fn app_output_reaches_ctr_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(Version::V1_7);
    let tar = images::spin_artifact("trap", "localhost/trap:v1", dir.path());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    // Attached, as a person runs it: the task's stdio is ctr's.
    let port = net::free_port();
    let id = unique_id("trap");
    let listen = format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}");
    let output = dir.path().join("ctr.out");
    let mut ctr = ctd
        .ctr_command(&[
            "run",
            "--rm",
            "--runtime",
            RUNTIME,
            "--net-host",
            "--env",
            &listen,
            "localhost/trap:v1",
            &id,
            "/",
        ])
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(std::fs::File::create(dir.path().join("ctr.err")).unwrap())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(net::wait_for_listener(addr, START_TIMEOUT), "{}", ctd.log());
    assert_eq!(blocking_get(addr, "/trap").0, 500);
    assert_eq!(blocking_get(addr, "/ok"), (200, "still alive\n".into()));
    ctd.ctr_ok(&["task", "kill", &id]);
    let status = ctr.wait().unwrap();
    assert!(status.success(), "ctr run exited with {status}");
    let err = std::fs::read_to_string(dir.path().join("ctr.err")).unwrap();
    let out = std::fs::read_to_string(&output).unwrap();
    assert!(
        format!("{out}{err}").contains("this component traps on purpose"),
        "ctr stdout:\n{out}\nctr stderr:\n{err}"
    );
}

#[test]
fn twenty_tasks_of_one_image_compile_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::spin_artifact("hello", "localhost/hello:v1", dir.path());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    for i in 0..20 {
        let id = unique_id("twenty");
        let addr = ctd.run_detached("localhost/hello:v1", &id, &[]);
        assert_eq!(
            blocking_get(addr, "/"),
            (200, "Hello from Spin!\n".into()),
            "task {i}"
        );
        ctd.stop(&id);
    }
    let log = ctd.log();
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        count("precompiled in"),
        1,
        "compiled more than once:\n{log}"
    );
    assert_eq!(count("compiled in"), 1, "a task compiled by itself:\n{log}");
    // The first shim stored the machine code; every later one read it back.
    assert_eq!(count("machine code stored as"), 1, "{log}");
    assert_eq!(count("machine code from the content store"), 19, "{log}");
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_and_metrics_report_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(Version::V1_7);
    let tar = images::spin_artifact("trap", "localhost/trap:v1", dir.path());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("graceful");
    let addr = ctd.run_detached("localhost/trap:v1", &id, &[]);

    // What kubelet reads for `kubectl top` and the HPA: the task's cgroup, after some work.
    for _ in 0..2 {
        assert_eq!(blocking_get(addr, "/busy"), (200, "busy done\n".into()));
    }
    let metrics = ctd.ctr_ok(&["task", "metrics", &id]);
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or_else(|| panic!("no {name} in metrics:\n{metrics}"))
    };
    // The shim answers with containerd's cgroup v1 message on every node; its CPU usage is in
    // nanoseconds (crates/shim/src/daemon/stats.rs).
    let memory = value("memory.usage_in_bytes ");
    let cpu = value("cpuacct.usage ");
    assert!(memory > 1 << 20, "memory usage {memory}:\n{metrics}");
    // At least 100 ms of the 600 ms busy loop, however loaded the machine (see tests/e2e/cri.rs).
    assert!(
        cpu >= 100_000_000,
        "600 ms of guest CPU, {cpu} ns reported:\n{metrics}"
    );

    let in_flight = std::thread::spawn(move || blocking_get(addr, "/slow"));
    std::thread::sleep(Duration::from_millis(400));
    ctd.ctr_ok(&["task", "kill", &id]);
    assert_eq!(in_flight.join().unwrap(), (200, "slow done\n".into()));
    let deleted = ctd.delete_once_stopped(&id);
    assert!(!deleted.contains("non-zero exit"), "{deleted}");
}

#[test]
fn sigkill_ends_the_task_at_once_with_137() {
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::spin_artifact("trap", "localhost/trap:v1", dir.path());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("sigkill");
    let addr = ctd.run_detached("localhost/trap:v1", &id, &[]);
    // A request in flight does not hold SIGKILL up.
    let in_flight = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            net::client()
                .get(format!("http://{addr}/slow"))
                .send()
                .await
        })
        .is_err()
    });
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::time::Instant::now();
    ctd.ctr_ok(&["task", "kill", "--signal", "SIGKILL", &id]);
    assert!(ctd.wait_for_status(&id, "STOPPED", Duration::from_secs(5)));
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(1), "SIGKILL took {took:?}");
    assert!(
        in_flight.join().unwrap(),
        "the request in flight was answered"
    );
    let deleted = ctd.delete_once_stopped(&id);
    assert!(deleted.contains("137"), "exit status: {deleted}");
}

#[test]
fn serves_inside_a_network_namespace_on_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(Version::V2_1);
    let netns = spinrt_tests::netns::NetNs::create();
    let tar = images::spin_artifact("hello", "localhost/hello:v1", dir.path());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("netns");
    let with_ns = format!("network:{}", netns.path().display());
    ctd.ctr_ok(&[
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--with-ns",
        &with_ns,
        "--env",
        "SPIN_HTTP_LISTEN_ADDR=0.0.0.0:8080",
        "localhost/hello:v1",
        &id,
        "/",
    ]);
    let addr: SocketAddr = format!("{}:8080", netns.guest_ip()).parse().unwrap();
    assert!(net::wait_for_listener(addr, START_TIMEOUT), "{}", ctd.log());
    assert_eq!(blocking_get(addr, "/"), (200, "Hello from Spin!\n".into()));
    // Not on the host's loopback: the app is in the namespace only.
    assert!(std::net::TcpStream::connect("127.0.0.1:8080").is_err());
    let deleted = ctd.stop(&id);
    assert!(!deleted.contains("non-zero exit"), "{deleted}");
}

#[test]
fn task_env_and_the_images_runtime_config_reach_the_host_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(Version::V2_1);
    // A plain image, as one built with a Dockerfile: spin.toml, the Wasm, and a runtime config
    // at /runtime-config.toml where the shim looks for it.
    let manifest = std::fs::read_to_string(apps::manifest_dir("host-apis").join("spin.toml"))
        .unwrap()
        .replace("../../target/wasm32-wasip2/release/", "");
    let files = [
        ("spin.toml", manifest.into_bytes()),
        (
            "host_apis.wasm",
            std::fs::read(apps::wasm("wasm32-wasip2", "host_apis")).unwrap(),
        ),
        (
            "runtime-config.toml",
            b"[key_value_store.other]\ntype = \"spin\"\npath = \"/data/other.db\"\n".to_vec(),
        ),
    ];
    let tar = images::plain_image(&files, "localhost/host-apis:v1", dir.path());
    ctd.ctr_ok(&["images", "import", tar.to_str().unwrap()]);
    let id = unique_id("host-apis");
    // What a pod's `env:` becomes: the task's environment, not the shim's.
    let addr = ctd.run_detached(
        "localhost/host-apis:v1",
        &id,
        &["--env", "SPIN_VARIABLE_SECRET_TOKEN=from-the-pod"],
    );
    assert_eq!(
        blocking_get(addr, "/granted/variables/token"),
        (200, "from-the-pod".into())
    );
    assert_eq!(
        blocking_request(addr, "PUT", "/granted/kv/other/k", "v"),
        (200, "stored".into())
    );
    assert_eq!(blocking_get(addr, "/granted/kv/other/k"), (200, "v".into()));
    assert_eq!(
        blocking_get(addr, "/denied/kv/other/k"),
        (500, "Error::AccessDenied".into())
    );

    // There is no Linux process to exec into or freeze: containerd gets a clear "not
    // supported" and the task keeps serving.
    for args in [
        &["task", "exec", "--exec-id", "probe", &id, "/bin/sh"][..],
        &["task", "pause", &id][..],
        &["task", "resume", &id][..],
    ] {
        let out = ctd.ctr(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "ctr {args:?} succeeded");
        assert!(
            stderr.contains("is not supported"),
            "ctr {args:?}: {stderr}"
        );
    }
    assert!(
        ctd.tasks()
            .iter()
            .any(|(t, _, s)| *t == id && s == "RUNNING")
    );
    assert_eq!(
        blocking_get(addr, "/granted/variables/message"),
        (200, "hello, world".into())
    );
    let deleted = ctd.stop(&id);
    assert!(!deleted.contains("non-zero exit"), "{deleted}");
}

/// The spin-sdk 7 app as a Spin artifact under containerd 1.7 and 2.1: Spin's async interfaces
/// from inside the confined server (its state under the task's work directory, Redis and
/// PostgreSQL from Debian on loopback), a request body streamed back.
#[test]
fn a_spin_sdk_7_app_reaches_its_stores_and_servers_under_containerd() {
    apps::ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let redis = spinrt_tests::services::redis();
    let pg = spinrt_tests::services::postgres("spinrt", &[]);
    let tar = images::spin_artifact("sdk7", "localhost/sdk7:v1", dir.path());
    for version in [Version::V1_7, Version::V2_1] {
        let ctd = Containerd::start(version);
        ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
        let id = unique_id("sdk7");
        let env = [
            format!("SPIN_VARIABLE_REDIS_PORT={}", redis.port),
            format!("SPIN_VARIABLE_PG_PORT={}", pg.port),
            "SPIN_VARIABLE_GREETING=from the task".to_string(),
        ];
        let mut extra = Vec::new();
        for e in &env {
            extra.extend(["--env", e.as_str()]);
        }
        let addr = ctd.run_detached("localhost/sdk7:v1", &id, &extra);
        let context = format!("{version:?}");

        assert_eq!(
            blocking_get(addr, "/variable/greeting"),
            (200, "from the task".into()),
            "{context}"
        );
        assert_eq!(
            blocking_request(addr, "PUT", "/kv/k", "v"),
            (200, "stored".into()),
            "{context}"
        );
        assert_eq!(blocking_get(addr, "/kv"), (200, "k".into()), "{context}");
        assert_eq!(
            blocking_request(addr, "POST", "/sqlite", "a"),
            (200, "rowid=1 changes=1 notes=a".into()),
            "{context}"
        );
        let redis_url = format!("redis://127.0.0.1:{}", redis.port);
        let (status, body) = blocking_request(addr, "POST", &format!("/redis?{redis_url}"), "x");
        assert_eq!(status, 200, "{context}: {body}");
        assert!(
            body.starts_with("x,") && body.ends_with(",echoed"),
            "{context}: {body}"
        );
        let pg_url = format!("postgres://postgres:postgres@127.0.0.1:{}/spinrt", pg.port);
        let (status, body) = blocking_request(addr, "POST", &format!("/pg?{pg_url}"), "rex");
        assert_eq!(status, 200, "{context}: {body}");
        assert!(
            body.starts_with("inserted=1 ") && body.ends_with(":rex"),
            "{context}: {body}"
        );
        let big = "z".repeat(1 << 20);
        assert_eq!(
            blocking_request(addr, "POST", "/echo", &big),
            (200, big.clone()),
            "{context}"
        );

        let deleted = ctd.stop(&id);
        assert!(!deleted.contains("non-zero exit"), "{context}: {deleted}");
        assert!(ctd.tasks().is_empty(), "{context}");
    }
}
