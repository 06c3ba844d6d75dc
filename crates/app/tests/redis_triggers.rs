//! Redis triggers as Spin writes them: manifest v2 (app-wide and per-trigger addresses, inline
//! components, templates), manifest v1, and the locked app both ways.

use spinrt_app::locked::LockedApp;
use spinrt_app::{App, RedisTrigger};

const WASM: &[u8] = b"\0asm\x01\0\0\0";

fn load(manifest: &str) -> App {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    std::fs::write(dir.path().join("sub.wasm"), WASM).unwrap();
    spinrt_app::manifest::load(dir.path()).unwrap()
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
