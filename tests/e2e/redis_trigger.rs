//! Spin's Redis trigger against Debian's redis-server: the `redis` test app subscribes a
//! spin-sdk 3 component and a spin-sdk 7 one to one channel beside an HTTP component. Each
//! message published reaches both, which prove it by writing `spinrt:sdk3:M` / `spinrt:sdk7:M`
//! back to Redis; through `spinrt up` and through containerd + the shim.

use std::time::{Duration, Instant};

use spinrt_tests::bins::{Up, up_refuses};
use spinrt_tests::containerd::{Containerd, Version, unique_id};
use spinrt_tests::net::blocking_get as get;
use spinrt_tests::services::redis_cli;
use spinrt_tests::{apps, images, services};

/// Waits until something subscribes to `channel` (the trigger is ready, or back after the
/// server restarted).
fn wait_for_subscriber(port: u16, channel: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let numsub = redis_cli(port, &["pubsub", "numsub", channel]);
        if numsub.lines().nth(1).is_some_and(|n| n.trim() != "0") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nothing subscribed to '{channel}' on port {port}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Publishes `message` and waits until both subscribers wrote it back.
fn publish_and_see_both(port: u16, message: &str, log: impl Fn() -> String) {
    let receivers = redis_cli(port, &["publish", "jobs", message]);
    assert_eq!(receivers, "1", "one subscription per server");
    let deadline = Instant::now() + Duration::from_secs(20);
    for sdk in ["sdk3", "sdk7"] {
        let key = format!("spinrt:{sdk}:{message}");
        while redis_cli(port, &["get", &key]) != message {
            assert!(
                Instant::now() < deadline,
                "the {sdk} subscriber never wrote {key}:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn messages_reach_spin_sdk_3_and_7_subscribers_through_spinrt_up() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("up.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let redis = services::redis();
    let port = redis.port.to_string();
    let mut up = Up::try_start(
        apps::manifest_dir("redis"),
        &["--no-cache"],
        &[("SPIN_VARIABLE_REDIS_PORT", port.as_str())],
        &log_path,
    )
    .unwrap();
    wait_for_subscriber(redis.port, "jobs", log);
    publish_and_see_both(redis.port, "first", log);

    // A message a guest refuses is logged and the next one is handled as before.
    redis_cli(redis.port, &["publish", "jobs", "fail"]);
    publish_and_see_both(redis.port, "after-fail", log);
    assert!(
        log().contains("component 'sdk3' failed on a message on 'jobs': returned an error"),
        "{}",
        log()
    );
    // The HTTP trigger serves beside the Redis one.
    assert_eq!(get(up.addr, "/"), (200, "Hello from Spin!\n".into()));

    // The server goes away and comes back on the same port: the trigger subscribes again.
    let port_number = redis.port;
    drop(redis);
    let redis = services::redis_on(port_number);
    wait_for_subscriber(redis.port, "jobs", log);
    publish_and_see_both(redis.port, "after-restart", log);
    assert!(log().contains("subscribing again") || log().contains("cannot subscribe"));

    let status = up.terminate();
    assert!(status.success(), "{status}\n{}", log());
}

#[test]
fn a_redis_trigger_on_a_component_without_a_redis_handler_fails_the_app() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spin.toml"),
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"wrong\"\n\
             [application.trigger.redis]\naddress = \"redis://127.0.0.1:1\"\n\
             [[trigger.redis]]\nchannel = \"c\"\ncomponent = \"hello\"\n\
             [component.hello]\nsource = \"{}\"\n",
            apps::wasm("wasm32-wasip2", "hello").display()
        ),
    )
    .unwrap();
    let err = up_refuses(dir.path());
    assert!(
        err.contains("component 'hello' exports no Redis handler"),
        "{err}"
    );
}

fn under_containerd(version: Version) {
    let redis = services::redis();
    let ctd = Containerd::start(version);
    let tar = images::spin_artifact("redis", "localhost/redis:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("redis");
    let port = format!("SPIN_VARIABLE_REDIS_PORT={}", redis.port);
    let addr = ctd.run_detached("localhost/redis:v1", &id, &["--env", &port]);
    wait_for_subscriber(redis.port, "jobs", || ctd.log());
    publish_and_see_both(redis.port, "from-containerd", || ctd.log());
    assert_eq!(get(addr, "/"), (200, "Hello from Spin!\n".into()));
    let stopped = ctd.stop(&id);
    assert!(!stopped.contains("non-zero exit"), "{stopped}");
    assert_eq!(
        redis_cli(redis.port, &["pubsub", "numsub", "jobs"])
            .lines()
            .nth(1),
        Some("0"),
        "the stopped task still subscribes"
    );
}

/// `SPIN_COMPONENTS_TO_RETAIN` in the task's environment, as SpinKube sets it: the dropped
/// component gets no message (subscribers are called in manifest order, sdk3 first, so once
/// sdk7 wrote its key a retained sdk3 would have written its own).
#[test]
fn selective_deployment_under_containerd_2_1() {
    let redis = services::redis();
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::spin_artifact("redis", "localhost/redis:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("retain");
    let port = format!("SPIN_VARIABLE_REDIS_PORT={}", redis.port);
    let addr = ctd.run_detached(
        "localhost/redis:v1",
        &id,
        &[
            "--env",
            &port,
            "--env",
            "SPIN_COMPONENTS_TO_RETAIN=sdk7,hello",
        ],
    );
    wait_for_subscriber(redis.port, "jobs", || ctd.log());
    redis_cli(redis.port, &["publish", "jobs", "only7"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis_cli(redis.port, &["get", "spinrt:sdk7:only7"]) != "only7" {
        assert!(Instant::now() < deadline, "sdk7 never got the message");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(redis_cli(redis.port, &["exists", "spinrt:sdk3:only7"]), "0");
    assert_eq!(get(addr, "/"), (200, "Hello from Spin!\n".into()));
    ctd.stop(&id);
}

#[test]
fn selective_deployment_through_spinrt_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("up.log");
    // Only the HTTP component: nothing subscribes, nothing needs a Redis server.
    let up = Up::try_start(
        apps::manifest_dir("redis"),
        &["--no-cache", "--component-id", "hello"],
        &[("SPIN_VARIABLE_REDIS_PORT", "1")],
        &log,
    )
    .unwrap();
    assert_eq!(get(up.addr, "/"), (200, "Hello from Spin!\n".into()));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("redis trigger"), "{text}");
    drop(up);

    let err = match Up::try_start(
        apps::manifest_dir("redis"),
        &["--no-cache", "-c", "hello", "-c", "nope"],
        &[],
        &log,
    ) {
        Ok(_) => panic!("an unknown component id was accepted"),
        Err(e) => e,
    };
    assert!(
        err.contains("component 'nope': cannot be retained"),
        "{err}"
    );
}

#[test]
fn redis_trigger_under_containerd_1_7() {
    under_containerd(Version::V1_7);
}

#[test]
fn redis_trigger_under_containerd_2_1() {
    under_containerd(Version::V2_1);
}
