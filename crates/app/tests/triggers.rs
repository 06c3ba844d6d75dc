//! Triggers beside HTTP as Spin and its plugins write them: Redis (manifest v2 with app-wide
//! and per-trigger addresses, inline components, templates; manifest v1), MQTT, cron and
//! command, SQS, each through the locked app both ways; WAGI executors; and selective deployment.

use spinrt_app::locked::LockedApp;
use spinrt_app::{App, MqttBroker, MqttTrigger, RedisTrigger, SqsQueue, SqsTrigger};

const WASM: &[u8] = b"\0asm\x01\0\0\0";

fn load(manifest: &str) -> App {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    std::fs::write(dir.path().join("sub.wasm"), WASM).unwrap();
    spinrt_app::manifest::load(dir.path()).unwrap()
}

/// Why `manifest` (beside a `sub.wasm`) does not load.
fn refused(manifest: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    std::fs::write(dir.path().join("sub.wasm"), WASM).unwrap();
    spinrt_app::manifest::load(dir.path())
        .unwrap_err()
        .to_string()
}

const V2: &str = r#"
spin_manifest_version = 2
[application]
name = "subscriber"
[application.trigger.redis]
address = "redis://{{ redis_host }}:6379"
[variables]
redis_host = { default = "127.0.0.1" }
channel = { required = true }

[[trigger.redis]]
channel = "{{ channel }}"
component = "sub"

[[trigger.redis]]
id = "other-server"
channel = "audit"
address = "redis://10.0.0.1:6380"
component = { source = "sub.wasm" }

[[trigger.http]]
route = "/..."
component = "sub"

[component.sub]
source = "sub.wasm"
"#;

#[test]
fn manifest_v2_redis_triggers() {
    let app = load(V2);
    assert_eq!(
        app.redis_address.as_deref(),
        Some("redis://{{ redis_host }}:6379")
    );
    assert_eq!(
        app.redis_triggers,
        vec![
            RedisTrigger {
                id: "trigger-sub-redis-0".into(),
                component: "sub".into(),
                channel: "{{ channel }}".into(),
                address: None,
            },
            RedisTrigger {
                id: "other-server".into(),
                component: "other-server-component".into(),
                channel: "audit".into(),
                address: Some("redis://10.0.0.1:6380".into()),
            },
        ]
    );
    assert_eq!(app.http_triggers.len(), 1);
    assert!(app.component("other-server-component").is_some());
}

#[test]
fn manifest_v1_redis_app() {
    let app = load(
        r#"
spin_manifest_version = "1"
name = "v1-subscriber"
trigger = { type = "redis", address = "redis://127.0.0.1:6379" }
[[component]]
id = "echo_message"
source = "sub.wasm"
[component.trigger]
channel = "messages"
"#,
    );
    assert_eq!(app.redis_address.as_deref(), Some("redis://127.0.0.1:6379"));
    assert!(app.http_triggers.is_empty());
    assert_eq!(app.redis_triggers[0].component, "echo-message");
    assert_eq!(app.redis_triggers[0].channel, "messages");
}

#[test]
fn redis_triggers_survive_the_locked_app() {
    let app = load(V2);
    let locked = LockedApp::from_app(&app, |_| None);
    let json: serde_json::Value = serde_json::from_slice(&locked.to_json()).unwrap();
    // Where Spin puts them, so `spin registry push` artifacts and ours read alike.
    assert_eq!(
        json["metadata"]["triggers"]["redis"]["address"],
        "redis://{{ redis_host }}:6379"
    );
    assert_eq!(json["triggers"][1]["trigger_type"], "redis");
    assert_eq!(
        json["triggers"][1]["trigger_config"]["channel"],
        "{{ channel }}"
    );
    let back = LockedApp::from_json(&locked.to_json())
        .unwrap()
        .into_app()
        .unwrap();
    assert_eq!(back.redis_triggers, app.redis_triggers);
    assert_eq!(back.redis_address, app.redis_address);
}

#[test]
fn a_spin_1_locked_redis_app_keeps_its_address() {
    let json = serde_json::json!({
        "spin_lock_version": 1,
        "metadata": {"name": "old", "trigger": {"type": "redis", "address": "redis://h:1"}},
        "triggers": [{"id": "t", "trigger_type": "redis",
                      "trigger_config": {"component": "c", "channel": "ch"}}],
        "components": [{"id": "c", "source": {"content_type": "application/wasm",
                        "inline": "AGFzbQEAAAA="}}]
    });
    let app = LockedApp::from_json(json.to_string().as_bytes())
        .unwrap()
        .into_app()
        .unwrap();
    assert_eq!(app.redis_address.as_deref(), Some("redis://h:1"));
    assert_eq!(app.redis_triggers[0].channel, "ch");
}

#[test]
fn selective_deployment_keeps_the_named_components_and_their_triggers() {
    let mut app = load(V2);
    app.retain_components(&["other-server-component"]).unwrap();
    assert_eq!(app.components.len(), 1);
    assert!(app.http_triggers.is_empty());
    assert_eq!(app.redis_triggers.len(), 1);
    assert_eq!(app.redis_triggers[0].id, "other-server");

    let mut app = load(V2);
    let err = app
        .retain_components(&spinrt_app::components_to_retain(" sub , nope,"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("component 'nope'"), "{err}");
    assert!(err.contains("'sub', 'other-server-component'"), "{err}");
}

const PLUGINS: &str = r#"
spin_manifest_version = 2
[application]
name = "plugins"
[application.trigger.mqtt]
address = "mqtt://127.0.0.1:{{ port }}"
username = "admin"
password = "{{ secret }}"
keep_alive_interval = "30"
[variables]
port = { default = "1883" }
secret = { default = "s" }

[[trigger.mqtt]]
component = "sub"
topic = "in"
qos = "1"

[[trigger.mqtt]]
id = "exact"
component = "sub"
topic = "other"
qos = 2

[[trigger.cron]]
component = "sub"
cron_expression = "*/5 * * * * *"

[component.sub]
source = "sub.wasm"
"#;

#[test]
fn mqtt_and_cron_triggers_as_the_plugins_write_them() {
    let app = load(PLUGINS);
    assert_eq!(
        app.mqtt_broker,
        Some(MqttBroker {
            address: "mqtt://127.0.0.1:{{ port }}".into(),
            username: "admin".into(),
            password: "{{ secret }}".into(),
            keep_alive_interval: "30".into(),
        })
    );
    assert_eq!(
        app.mqtt_triggers,
        vec![
            MqttTrigger {
                id: "trigger-sub-mqtt-0".into(),
                component: "sub".into(),
                topic: "in".into(),
                qos: 1,
            },
            MqttTrigger {
                id: "exact".into(),
                component: "sub".into(),
                topic: "other".into(),
                qos: 2,
            },
        ]
    );
    assert_eq!(app.cron_triggers[0].cron_expression, "*/5 * * * * *");

    let locked = LockedApp::from_app(&app, |_| None);
    let back = LockedApp::from_json(&locked.to_json())
        .unwrap()
        .into_app()
        .unwrap();
    assert_eq!(back.mqtt_broker, app.mqtt_broker);
    assert_eq!(back.mqtt_triggers, app.mqtt_triggers);
    assert_eq!(back.cron_triggers, app.cron_triggers);
}

#[test]
fn a_command_trigger_survives_the_locked_app() {
    let app = load(
        "spin_manifest_version = 2\n[application]\nname = \"job\"\n\
         [[trigger.command]]\ncomponent = \"sub\"\n[component.sub]\nsource = \"sub.wasm\"\n",
    );
    let locked = LockedApp::from_app(&app, |_| None);
    let json: serde_json::Value = serde_json::from_slice(&locked.to_json()).unwrap();
    assert_eq!(json["metadata"]["trigger"]["type"], "command");
    let back = LockedApp::from_json(&locked.to_json())
        .unwrap()
        .into_app()
        .unwrap();
    assert_eq!(back.command_triggers, app.command_triggers);
}

#[test]
fn bad_mqtt_triggers_are_refused_naming_them() {
    let err = refused(&PLUGINS.replace("qos = 2", "qos = 3"));
    assert!(
        err.contains("trigger 'exact': qos 3 is not an MQTT QoS"),
        "{err}"
    );
    let err = refused(&PLUGINS.replace("[application.trigger.mqtt]", "[application.trigger.nope]"));
    assert!(err.contains("has no MQTT broker"), "{err}");
}

#[test]
fn wagi_executors_with_their_argv_in_both_manifests_and_the_locked_app() {
    use spinrt_app::{HttpExecutor, WagiConfig};
    let app = load(
        r#"
spin_manifest_version = 2
[application]
name = "cgi"
[[trigger.http]]
route = "/a/..."
component = { source = "sub.wasm" }
executor = { type = "wagi" }
[[trigger.http]]
route = "/b"
component = { source = "sub.wasm" }
executor = { type = "wagi", argv = "${SCRIPT_NAME} -v ${ARGS}", entrypoint = "_start" }
[[trigger.http]]
route = "/c"
component = { source = "sub.wasm" }
executor = { type = "spin" }
"#,
    );
    let executors: Vec<_> = app
        .http_triggers
        .iter()
        .map(|t| t.executor.clone())
        .collect();
    assert_eq!(
        executors,
        [
            HttpExecutor::Wagi(WagiConfig::default()),
            HttpExecutor::Wagi(WagiConfig {
                argv: "${SCRIPT_NAME} -v ${ARGS}".into()
            }),
            HttpExecutor::Http,
        ]
    );
    assert_eq!(WagiConfig::default().argv, "${SCRIPT_NAME} ${ARGS}");
    let locked = LockedApp::from_app(&app, |_| None).to_json();
    let back = LockedApp::from_json(&locked).unwrap().into_app().unwrap();
    assert_eq!(back.http_triggers, app.http_triggers);

    let v1 = load(
        r#"
spin_manifest_version = "1"
name = "cgi1"
trigger = { type = "http", base = "/" }
[[component]]
id = "old"
source = "sub.wasm"
[component.trigger]
route = "/..."
executor = { type = "wagi", argv = "x ${ARGS}" }
"#,
    );
    assert_eq!(
        v1.http_triggers[0].executor,
        HttpExecutor::Wagi(WagiConfig {
            argv: "x ${ARGS}".into()
        })
    );
}

#[test]
fn a_wagi_entrypoint_other_than_start_is_refused_as_spin_refuses_it() {
    let err = refused(
        r#"
spin_manifest_version = 2
[application]
name = "cgi"
[[trigger.http]]
id = "custom"
route = "/..."
component = { source = "sub.wasm" }
executor = { type = "wagi", entrypoint = "main2" }
"#,
    );
    assert!(
        err.contains("trigger 'custom'") && err.contains("entrypoint 'main2' is not supported"),
        "{err}"
    );
}

const SQS: &str = r#"
spin_manifest_version = 2
[application]
name = "consumer"
[variables]
queue = { required = true }

[[trigger.sqs]]
component = "sub"
queue_url = "{{ queue }}"

[[trigger.sqs]]
id = "tuned"
component = "sub"
queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
max_messages = 4
idle_wait_seconds = 7
system_attributes = ["All"]
message_attributes = ["colour"]

[component.sub]
source = "sub.wasm"
"#;

#[test]
fn sqs_triggers_as_the_plugin_writes_them_with_its_defaults() {
    let app = load(SQS);
    assert_eq!(
        app.sqs_triggers,
        vec![
            SqsTrigger {
                id: "trigger-sub-sqs-0".into(),
                component: "sub".into(),
                queue: SqsQueue {
                    queue_url: "{{ queue }}".into(),
                    max_messages: 10,
                    idle_wait_seconds: 2,
                    system_attributes: vec![],
                    message_attributes: vec![],
                },
            },
            SqsTrigger {
                id: "tuned".into(),
                component: "sub".into(),
                queue: SqsQueue {
                    queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs".into(),
                    max_messages: 4,
                    idle_wait_seconds: 7,
                    system_attributes: vec!["All".into()],
                    message_attributes: vec!["colour".into()],
                },
            },
        ]
    );
    let locked = LockedApp::from_app(&app, |_| None);
    let json: serde_json::Value = serde_json::from_slice(&locked.to_json()).unwrap();
    assert_eq!(json["triggers"][1]["trigger_type"], "sqs");
    assert_eq!(json["triggers"][1]["trigger_config"]["max_messages"], 4);
    let back = LockedApp::from_json(&locked.to_json())
        .unwrap()
        .into_app()
        .unwrap();
    assert_eq!(back.sqs_triggers, app.sqs_triggers);
}

#[test]
fn bad_sqs_triggers_are_refused_naming_them() {
    let err = refused(&SQS.replace("max_messages = 4", "max_messages = 11"));
    assert!(
        err.contains("trigger 'tuned': max_messages 11 is outside what SQS allows"),
        "{err}"
    );
    let err = refused(&SQS.replace("{{ queue }}", "{{ nowhere }}"));
    assert!(err.contains("nowhere"), "{err}");
    let err = refused(&SQS.replace("{{ queue }}", " "));
    assert!(err.contains("has no queue_url"), "{err}");
    let err = refused(&SQS.replace("idle_wait_seconds = 7", "idle_wait = 7"));
    assert!(err.contains("idle_wait"), "{err}");
}
