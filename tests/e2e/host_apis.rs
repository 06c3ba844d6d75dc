//! Spin's host interfaces as an app built with spin-sdk uses them, through `spinrt up`: what a
//! component is granted works, what it is not granted is refused with the interface's own
//! error, and bad configuration stops the app at load time with the reason.

use std::path::Path;
use std::process::Command;

use spinrt_tests::bins::{Up, bin};
use spinrt_tests::net::{blocking_get as get, blocking_request as request};
use spinrt_tests::{apps, services};

/// A runtime config defining the `other` key-value store as a file next to it.
fn runtime_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("runtime-config.toml");
    std::fs::write(
        &path,
        "[key_value_store.other]\ntype = \"spin\"\npath = \"stores/other.db\"\n",
    )
    .unwrap();
    path
}

#[test]
fn granted_interfaces_work_and_the_rest_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = services::http_echo();
    let port = upstream.port.to_string();
    let config = runtime_config(dir.path());
    let state = dir.path().join("state");
    let args = [
        "--runtime-config-file",
        config.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--cache-dir",
        dir.path().join("cache").to_str().unwrap(),
    ]
    .map(str::to_string);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let envs = [
        ("SPIN_VARIABLE_SECRET_TOKEN", "s3cret"),
        ("SPIN_VARIABLE_UPSTREAM_PORT", port.as_str()),
    ];
    let start = |log: &str| {
        Up::try_start(
            apps::manifest_dir("host-apis"),
            &args,
            &envs,
            &dir.path().join(log),
        )
        .unwrap()
    };
    let up = start("run1.log");
    let addr = up.addr;

    // Variables: templates over app variables, provider values from the environment.
    assert_eq!(
        get(addr, "/granted/variables/message"),
        (200, "hello, world".into())
    );
    assert_eq!(
        get(addr, "/granted/variables/token"),
        (200, "s3cret".into())
    );
    let (status, body) = get(addr, "/granted/variables/nope");
    assert_eq!(status, 500);
    assert!(body.contains("Undefined"), "{body}");
    assert!(
        get(addr, "/denied/variables/message")
            .1
            .contains("Undefined")
    );

    // Key-value: the default store and one from the runtime config.
    assert_eq!(
        request(addr, "PUT", "/granted/kv/default/k1", "v1"),
        (200, "stored".into())
    );
    assert_eq!(get(addr, "/granted/kv/default/k1"), (200, "v1".into()));
    assert_eq!(get(addr, "/granted/kv/default/missing").0, 404);
    assert_eq!(
        request(addr, "PUT", "/granted/kv/other/k2", "v2"),
        (200, "stored".into())
    );
    assert_eq!(get(addr, "/granted/kv/other"), (200, "k2".into()));
    assert!(dir.path().join("stores/other.db").is_file());
    for path in ["/denied/kv/default/k1", "/granted/kv/undeclared/k1"] {
        assert_eq!(
            get(addr, path),
            (500, "Error::AccessDenied".into()),
            "{path}"
        );
    }

    // SQLite: text and real values round-trip.
    assert_eq!(
        request(addr, "POST", "/granted/sqlite/default", "a"),
        (200, "a:1".into())
    );
    assert_eq!(
        request(addr, "POST", "/granted/sqlite/default", "bb"),
        (200, "a:1,bb:2".into())
    );
    assert_eq!(
        request(addr, "POST", "/denied/sqlite/default", "x"),
        (500, "Error::AccessDenied".into())
    );

    // Outbound HTTP: the upstream the template names, nothing else.
    let upstream_url = format!("/granted/http?http://127.0.0.1:{port}/");
    assert_eq!(get(addr, &upstream_url), (200, "200 ".into()));
    for path in [
        format!("/denied/http?http://127.0.0.1:{port}/"),
        format!("/granted/http?http://localhost:{port}/"),
        "/granted/http?http://127.0.0.1:9/".to_string(),
    ] {
        let (status, body) = get(addr, &path);
        assert_eq!(status, 500, "{path}: {body}");
        assert!(body.contains("HttpRequestDenied"), "{path}: {body}");
    }
    drop(up);

    // Stores live in files: a restarted app sees what the first one wrote.
    let up = start("run2.log");
    assert_eq!(get(up.addr, "/granted/kv/default/k1"), (200, "v1".into()));
    assert_eq!(get(up.addr, "/granted/kv/other/k2"), (200, "v2".into()));
    assert_eq!(
        request(up.addr, "POST", "/granted/sqlite/default", "c"),
        (200, "a:1,bb:2,c:1".into())
    );
}

#[test]
fn bad_configuration_stops_the_app_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = runtime_config(dir.path());
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let no_other = write(
        "no-other.toml",
        "[key_value_store.default]\ntype = \"spin\"\n",
    );
    let bad_type = write(
        "bad-type.toml",
        "[key_value_store.other]\ntype = \"dynamo\"\n",
    );
    let bad_toml = write("bad.toml", "[key_value_store.other\n");
    // (runtime config, whether the required variable has a value, what the error names)
    let cases: [(&Path, bool, &[&str]); 5] = [
        (
            &good,
            false,
            &["secret_token", "SPIN_VARIABLE_SECRET_TOKEN"],
        ),
        (
            &no_other,
            true,
            &["'granted'", "key-value store 'other' is not defined"],
        ),
        (
            &bad_type,
            true,
            &["bad-type.toml", "unknown variant `dynamo`"],
        ),
        (&bad_toml, true, &["bad.toml"]),
        (
            Path::new("/nonexistent/rc.toml"),
            true,
            &["/nonexistent/rc.toml"],
        ),
    ];
    for (config, token, wanted) in cases {
        let out = Command::new(bin("spinrt"))
            .args([
                "up",
                "--no-cache",
                "--listen",
                "127.0.0.1:0",
                "--runtime-config-file",
            ])
            .arg(config)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--from")
            .arg(apps::manifest_dir("host-apis"))
            .env_remove("SPIN_VARIABLE_SECRET_TOKEN")
            .envs(token.then_some(("SPIN_VARIABLE_SECRET_TOKEN", "x")))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: started", config.display());
        for want in wanted {
            assert!(
                stderr.contains(want),
                "{}: wanted {want:?} in:\n{stderr}",
                config.display()
            );
        }
    }
}
