//! A corpus of broken manifests: each must fail to load with an error that names the problem.

use std::path::Path;

/// The smallest valid Wasm header; the app model only checks that a source is Wasm.
const WASM: &[u8] = b"\0asm\x01\0\0\0";

const GOOD_COMPONENT: &str = r#"
[component.hello]
source = "hello.wasm"
"#;

const GOOD_TRIGGER: &str = r#"
[[trigger.http]]
route = "/..."
component = "hello"
"#;

fn v2(body: &str) -> String {
    format!("spin_manifest_version = 2\n[application]\nname = \"bad\"\n{body}")
}

/// (case, manifest, substrings the error must contain)
fn corpus() -> Vec<(&'static str, String, Vec<&'static str>)> {
    vec![
        ("toml syntax error", "spin_manifest_version = 2\n[application\nname = 1".into(), vec!["line 2"]),
        ("unknown version", "spin_manifest_version = 3\n".into(), vec!["unknown manifest version 3"]),
        ("no version", "[application]\nname = \"x\"\n".into(), vec!["missing spin_manifest_version"]),
        ("empty file", String::new(), vec!["missing spin_manifest_version"]),
        (
            "trigger names a missing component",
            v2("[[trigger.http]]\nroute = \"/\"\ncomponent = \"ghost\"\n"),
            vec!["ghost", "does not define"],
        ),
        (
            "duplicate route",
            v2(&format!("{GOOD_COMPONENT}{GOOD_TRIGGER}{GOOD_TRIGGER}")),
            vec!["duplicate route", "/..."],
        ),
        (
            "source file missing",
            v2(&format!("[component.hello]\nsource = \"nope.wasm\"\n{GOOD_TRIGGER}")),
            vec!["hello", "nope.wasm"],
        ),
        (
            "source is not wasm",
            v2(&format!("[component.hello]\nsource = \"notwasm.txt\"\n{GOOD_TRIGGER}")),
            vec!["notwasm.txt", "is not a WebAssembly file"],
        ),
        (
            "unknown field in application",
            v2(&format!("colour = \"blue\"\n{GOOD_COMPONENT}{GOOD_TRIGGER}")),
            vec!["unknown field `colour`", "line 4"],
        ),
        (
            "unknown field in component",
            v2(&format!("{GOOD_COMPONENT}sauce = \"x\"\n{GOOD_TRIGGER}")),
            vec!["unknown field `sauce`"],
        ),
        (
            "unknown field in http trigger",
            v2(&format!("{GOOD_COMPONENT}[[trigger.http]]\nroute = \"/\"\ncomponent = \"hello\"\nrouter = \"x\"\n")),
            vec!["unknown field `router`"],
        ),
        (
            "variable both required and defaulted",
            v2(&format!("[variables]\ntoken = {{ required = true, default = \"x\" }}\n{GOOD_COMPONENT}{GOOD_TRIGGER}")),
            vec!["variable 'token'", "required"],
        ),
        (
            "template refers to an undeclared variable",
            v2(&format!("{GOOD_COMPONENT}variables = {{ url = \"{{{{ missing }}}}\" }}\n{GOOD_TRIGGER}")),
            vec!["missing", "does not declare"],
        ),
        (
            "component id not kebab case",
            v2(&format!("[component.Hello_World]\nsource = \"hello.wasm\"\n{GOOD_TRIGGER}")),
            vec!["Hello_World", "kebab case"],
        ),
        (
            "url source",
            v2(&format!("[component.hello]\nsource = {{ url = \"https://example.com/a.wasm\", digest = \"sha256:00\" }}\n{GOOD_TRIGGER}")),
            vec!["not supported", "https://example.com/a.wasm"],
        ),
        (
            "unsupported trigger type",
            v2(&format!("{GOOD_COMPONENT}[[trigger.kafka]]\ntopic = \"q\"\ncomponent = \"hello\"\n")),
            vec!["trigger type 'kafka'", "not supported"],
        ),
        (
            "redis trigger without an address",
            v2(&format!("{GOOD_COMPONENT}[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"hello\"\n")),
            vec!["trigger-hello-redis-0", "has no Redis address"],
        ),
        (
            "redis trigger of an unknown component",
            v2(&format!("{GOOD_COMPONENT}[application.trigger.redis]\naddress = \"redis://127.0.0.1\"\n[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"nope\"\n")),
            vec!["refers to component 'nope'"],
        ),
        (
            "redis channel naming an undeclared variable",
            v2(&format!("{GOOD_COMPONENT}[application.trigger.redis]\naddress = \"redis://127.0.0.1\"\n[[trigger.redis]]\nchannel = \"{{{{ ch }}}}\"\ncomponent = \"hello\"\n")),
            vec!["variable 'ch'", "does not declare"],
        ),
        (
            "files escape the app directory",
            v2(&format!("{GOOD_COMPONENT}files = [{{ source = \"../../etc\", destination = \"/etc\" }}]\n{GOOD_TRIGGER}")),
            vec!["hello", "'..' would leave the app directory"],
        ),
        (
            "malformed route",
            v2(&format!("{GOOD_COMPONENT}[[trigger.http]]\nroute = \"/a/.../b\"\ncomponent = \"hello\"\n")),
            vec!["/a/.../b", "invalid route"],
        ),
        (
            "no triggers",
            v2(GOOD_COMPONENT),
            vec!["no trigger", "nothing to run"],
        ),
        (
            "v1 with wrong trigger type",
            "spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"cron\" }\n".into(),
            vec!["trigger type 'cron'"],
        ),
        (
            "v1 component without route",
            "spin_manifest_version = \"1\"\nname = \"x\"\ntrigger = { type = \"http\" }\n[[component]]\nid = \"a\"\nsource = \"hello.wasm\"\n[component.trigger]\nexecutor = { type = \"spin\" }\n".into(),
            vec!["component 'a'", "has no 'route'"],
        ),
    ]
}

fn write_app(dir: &Path, manifest: &str) {
    std::fs::write(dir.join("spin.toml"), manifest).unwrap();
    std::fs::write(dir.join("hello.wasm"), WASM).unwrap();
    std::fs::write(dir.join("notwasm.txt"), "just text\n").unwrap();
}

#[test]
fn every_bad_manifest_fails_with_a_clear_error() {
    let corpus = corpus();
    assert!(corpus.len() >= 10);
    for (case, manifest, expected) in corpus {
        let dir = tempfile::tempdir().unwrap();
        write_app(dir.path(), &manifest);
        let err = match spinrt_app::manifest::load(dir.path()) {
            Ok(app) => panic!("{case}: loaded as {app:?}"),
            Err(e) => e.to_string(),
        };
        for needle in expected {
            assert!(
                err.contains(needle),
                "{case}: error does not mention {needle:?}:\n{err}"
            );
        }
    }
}

#[test]
fn the_good_base_loads() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), &v2(&format!("{GOOD_COMPONENT}{GOOD_TRIGGER}")));
    let app = spinrt_app::manifest::load(dir.path()).unwrap();
    assert_eq!(app.components.len(), 1);
    assert_eq!(app.http_triggers[0].component, "hello");
}

#[test]
fn errors_name_the_manifest_file() {
    let dir = tempfile::tempdir().unwrap();
    write_app(
        dir.path(),
        "spin_manifest_version = 2\n[application]\nname = 1\n",
    );
    let err = spinrt_app::manifest::load(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&dir.path().join("spin.toml").display().to_string()),
        "{err}"
    );
}
