//! The MQTT trigger against Debian's mosquitto: the `mqtt` test app (a component bound with
//! wit-bindgen against the MQTT plugin's WIT, publishing through spin-sdk 7) answers each
//! message on `jobs` with `got M on jobs` on `replies`; through `spinrt up` and containerd 2.1.

use std::time::{Duration, Instant};

use spinrt_tests::bins::Up;
use spinrt_tests::containerd::{Containerd, Version, unique_id};
use spinrt_tests::net::blocking_get as get;
use spinrt_tests::services::{first_message_after, mqtt, mqtt_publish};
use spinrt_tests::{apps, images};

/// Publishes `message` on `jobs` and returns the reply (skipping replies to earlier messages
/// that arrive late).
fn reply_to(port: u16, message: &'static str, log: impl Fn() -> String) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, payload, ()) = first_message_after(port, "replies", move || {
            mqtt_publish(port, "jobs", message);
        });
        let reply = String::from_utf8_lossy(&payload).into_owned();
        if reply == format!("got {message} on jobs") {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "no reply to {message}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Waits until the log holds `text` `times` times (the trigger logs each subscription).
fn wait_for(text: &str, times: usize, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while log().matches(text).count() < times {
        assert!(
            Instant::now() < deadline,
            "never logged {text:?}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn messages_reach_an_mqtt_subscriber_through_spinrt_up() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("up.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let broker = mqtt();
    let port = broker.port.to_string();
    let mut up = Up::try_start(
        apps::manifest_dir("mqtt"),
        &["--no-cache"],
        &[("SPIN_VARIABLE_MQTT_PORT", port.as_str())],
        &log_path,
    )
    .unwrap();
    wait_for("subscribed to 'jobs'", 1, log);
    assert_eq!(reply_to(broker.port, "first", log), "got first on jobs");
    // A message the guest refuses is logged; the next is handled.
    mqtt_publish(broker.port, "jobs", "fail");
    assert_eq!(reply_to(broker.port, "second", log), "got second on jobs");
    assert!(log().contains("returned an error"), "{}", log());
    assert_eq!(get(up.addr, "/"), (200, "Hello from Spin!\n".into()));

    // The broker goes away and comes back on its port: the trigger subscribes again.
    let port_number = broker.port;
    drop(broker);
    let broker = spinrt_tests::services::mqtt_on(port_number);
    wait_for("subscribed to 'jobs'", 2, log);
    assert_eq!(reply_to(broker.port, "third", log), "got third on jobs");
    let status = up.terminate();
    assert!(status.success(), "{status}\n{}", log());
}

#[test]
fn mqtt_trigger_under_containerd_2_1() {
    let broker = mqtt();
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::spin_artifact("mqtt", "localhost/mqtt:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("mqtt");
    let env = format!("SPIN_VARIABLE_MQTT_PORT={}", broker.port);
    let task_log = ctd.dir().join("mqtt-task.log");
    let log_uri = format!("file://{}", task_log.display());
    let addr = ctd.run_detached(
        "localhost/mqtt:v1",
        &id,
        &["--env", &env, "--log-uri", &log_uri],
    );
    assert_eq!(get(addr, "/"), (200, "Hello from Spin!\n".into()));
    let log = || std::fs::read_to_string(&task_log).unwrap_or_default();
    wait_for("subscribed to 'jobs'", 1, log);
    assert_eq!(
        reply_to(broker.port, "from-containerd", log),
        "got from-containerd on jobs"
    );
    let stopped = ctd.stop(&id);
    assert!(!stopped.contains("non-zero exit"), "{stopped}");
}
