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

/// `spinrt up` of the host-apis app with state, cache and runtime config under `dir`, the
/// required variable set and `envs` added.
fn start(dir: &Path, envs: &[(&str, &str)], log: &str) -> Up {
    let config = runtime_config(dir);
    let args = [
        "--runtime-config-file".to_string(),
        config.display().to_string(),
        "--state-dir".to_string(),
        dir.join("state").display().to_string(),
        "--cache-dir".to_string(),
        dir.join("cache").display().to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut envs = envs.to_vec();
    envs.push(("SPIN_VARIABLE_SECRET_TOKEN", "s3cret"));
    Up::try_start(
        apps::manifest_dir("host-apis"),
        &args,
        &envs,
        &dir.join(log),
    )
    .unwrap()
}

#[test]
fn granted_interfaces_work_and_the_rest_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = services::http_echo();
    let port = upstream.port.to_string();
    let envs = [("SPIN_VARIABLE_UPSTREAM_PORT", port.as_str())];
    let start = |log: &str| start(dir.path(), &envs, log);
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
fn mysql_values_cross_both_ways_and_only_granted_servers_are_reached() {
    let dir = tempfile::tempdir().unwrap();
    let db = services::mariadb("spinrt");
    let port = db.port.to_string();
    let up = start(
        dir.path(),
        &[("SPIN_VARIABLE_MYSQL_PORT", port.as_str())],
        "mysql.log",
    );
    let address = format!("mysql://spin:spin@127.0.0.1:{port}/spinrt");
    let post = |component: &str, address: &str, name: &str| {
        request(
            up.addr,
            "POST",
            &format!("/{component}/mysql?{address}"),
            name,
        )
    };

    // Every value type of the table, as the guest sees it: column types from the server's
    // metadata (signedness, binary vs text), values of those types, NULL as db-null.
    let columns = "id:DbDataType::Int32,name:DbDataType::Str,age:DbDataType::Uint8,\
                   weight:DbDataType::Floating64,big:DbDataType::Int64,\
                   photo:DbDataType::Binary,note:DbDataType::Str";
    let row = |id: u32, name: &str| {
        format!(
            "{name}: DbValue::Int32({id}),DbValue::Str(\"{name}\"),DbValue::Uint8(3),\
             DbValue::Floating64(4.5),DbValue::Int64(-9007199254740993),\
             DbValue::Binary([0, 1, 2, 255]),DbValue::DbNull"
        )
    };
    assert_eq!(
        post("granted", &address, "rex"),
        (200, format!("{columns}\n{}", row(1, "rex")))
    );
    assert_eq!(
        post("granted", &address, "bo"),
        (
            200,
            format!("{columns}\n{}\n{}", row(1, "rex"), row(2, "bo"))
        )
    );

    // The server's own errors come back as the interface's errors.
    let (status, body) = post("granted", &address, &"x".repeat(100));
    assert_eq!(status, 500);
    assert!(
        body.contains("QueryFailed") && body.contains("Data too long"),
        "{body}"
    );
    let wrong_password = address.replace("spin:spin@", "spin:nope@");
    let (status, body) = post("granted", &wrong_password, "x");
    assert_eq!(status, 500);
    assert!(
        body.contains("ConnectionFailed") && body.contains("Access denied"),
        "{body}"
    );

    // Not granted: refused before any connection, naming the address.
    for (component, address) in [
        ("denied", address.clone()),
        ("granted", address.replace("127.0.0.1", "localhost")),
    ] {
        let (status, body) = post(component, &address, "x");
        assert_eq!(status, 500, "{component} {address}");
        assert!(
            body.contains("ConnectionFailed") && body.contains("is not permitted"),
            "{component} {address}: {body}"
        );
    }
    let (_, body) = post("granted", "not a url", "x");
    assert!(body.contains("invalid address"), "{body}");
}

/// Variable values from the runtime config's providers, asked after `SPIN_VARIABLE_<NAME>` and
/// in their order: an `env` provider with its own prefix and dotenv file, then `static` values.
#[test]
fn variables_come_from_runtime_config_providers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.env"),
        "MYAPP_GREETING=\"hi from dotenv\"\n",
    )
    .unwrap();
    let config = dir.path().join("providers.toml");
    std::fs::write(
        &config,
        "[key_value_store.other]\ntype = \"spin\"\n\
         [[variables_provider]]\ntype = \"env\"\nprefix = \"MYAPP\"\ndotenv_path = \"app.env\"\n\
         [[variables_provider]]\ntype = \"static\"\n\
         values = { greeting = \"static hey\", secret_token = \"static token\" }\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let args = [
        "--runtime-config-file",
        config.to_str().unwrap(),
        "--state-dir",
        dir.path().to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    // (environment, message, token)
    type Envs<'a> = &'a [(&'a str, &'a str)];
    let runs: [(Envs, &str, &str); 3] = [
        (&[], "hi from dotenv, world", "static token"),
        (
            &[("MYAPP_SECRET_TOKEN", "env token")],
            "hi from dotenv, world",
            "env token",
        ),
        (
            &[
                ("SPIN_VARIABLE_GREETING", "spin env"),
                ("MYAPP_GREETING", "myapp env"),
            ],
            "spin env, world",
            "static token",
        ),
    ];
    for (i, (envs, message, token)) in runs.into_iter().enumerate() {
        let log = dir.path().join(format!("run{i}.log"));
        let up = Up::try_start(apps::manifest_dir("host-apis"), &args, envs, &log).unwrap();
        assert_eq!(
            get(up.addr, "/granted/variables/message"),
            (200, message.into()),
            "run {i}"
        );
        assert_eq!(
            get(up.addr, "/granted/variables/token"),
            (200, token.into()),
            "run {i}"
        );
    }
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
    let vault = write(
        "vault.toml",
        "[[variables_provider]]\ntype = \"vault\"\nurl = \"http://127.0.0.1:8200\"\n",
    );
    let no_dotenv = write(
        "no-dotenv.toml",
        "[[variables_provider]]\ntype = \"env\"\ndotenv_path = \"missing.env\"\n",
    );
    // (runtime config, whether the required variable has a value, what the error names)
    let cases: [(&Path, bool, &[&str]); 7] = [
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
            &vault,
            true,
            &["vault.toml", "type = \"vault\" is not supported"],
        ),
        (&no_dotenv, true, &["no-dotenv.toml", "missing.env"]),
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

/// spin-sdk 5's SQLite is Spin 3's interface: the same databases, plus the row id of the last
/// insert and the rows the last statement changed, per connection. Its variables and stores
/// are also reachable through `wasi:config` and `wasi:keyvalue`; its LLM calls are refused.
#[test]
fn spin_sdk_5_app_spin_3_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let up = Up::start(
        apps::manifest_dir("sdk5"),
        &["--state-dir", state.to_str().unwrap()],
        &dir.path().join("sdk5.log"),
    );
    assert_eq!(
        request(up.addr, "POST", "/sqlite3", "a"),
        (200, "rowid=1 inserted=1 updated=1 notes=a".into())
    );
    assert_eq!(
        request(up.addr, "POST", "/sqlite3", "b"),
        (200, "rowid=2 inserted=1 updated=2 notes=a,b".into())
    );
    // wasi:config reads the component's variables; an unknown name is no value.
    assert_eq!(
        get(up.addr, "/config/greeting"),
        (200, "hello from wasi:config".into())
    );
    assert_eq!(get(up.addr, "/config/nope").0, 404);
    assert_eq!(
        get(up.addr, "/config"),
        (200, "greeting=hello from wasi:config".into())
    );

    // wasi:keyvalue: the granted store under its label, one key at a time and in batches.
    assert_eq!(
        request(up.addr, "PUT", "/wasi-kv/default/k1", "v1"),
        (200, "stored".into())
    );
    assert_eq!(get(up.addr, "/wasi-kv/default/k1"), (200, "v1".into()));
    assert_eq!(get(up.addr, "/wasi-kv/default/missing").0, 404);
    assert_eq!(
        request(up.addr, "POST", "/wasi-kv/default", "a=1,b=2"),
        (200, "a=1,b=2".into())
    );
    assert_eq!(get(up.addr, "/wasi-kv/default"), (200, "a,b,k1".into()));
    assert_eq!(
        get(up.addr, "/wasi-kv/other/k1"),
        (500, "Error::AccessDenied".into())
    );
    // Atomics: increments add up; of two compare-and-swaps from the same start one fails,
    // sees the winner's value and succeeds on retry.
    assert_eq!(
        request(up.addr, "POST", "/wasi-kv/default/hits/increment", "5"),
        (200, "5".into())
    );
    assert_eq!(
        request(up.addr, "POST", "/wasi-kv/default/hits/increment", "-2"),
        (200, "3".into())
    );
    assert_eq!(get(up.addr, "/wasi-kv/default/hits"), (200, "3".into()));
    assert_eq!(
        request(up.addr, "POST", "/wasi-kv/default/k1/race", "slow"),
        (200, "found fast then swapped to slow".into())
    );
    let (status, body) = request(up.addr, "POST", "/wasi-kv/default/k1/increment", "1");
    assert_eq!(status, 500);
    assert!(body.contains("is not an integer"), "{body}");

    // No Serverless AI here: the call is answered with the reason, the app keeps serving.
    let (status, body) = get(up.addr, "/llm");
    assert_eq!(status, 500);
    assert!(
        body.contains("InvalidInput")
            && body.contains("'llama2-chat'")
            && body.contains("ai_models"),
        "{body}"
    );
}

/// `spin:postgres/postgres@3.0.0` (spin-sdk's `pg3`), served by the @4 implementation: the
/// types @3 has cross as they are, a JSONB column comes back as `other`/`unsupported`, errors
/// as text.
#[test]
fn postgres_3_values_cross_and_newer_types_are_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let db = services::postgres("spinrt", &[]);
    let port = db.port.to_string();
    let up = Up::try_start(
        apps::manifest_dir("sdk5"),
        &["--state-dir", dir.path().join("state").to_str().unwrap()],
        &[("SPIN_VARIABLE_PG_PORT", port.as_str())],
        &dir.path().join("pg3.log"),
    )
    .unwrap();
    let address = format!("postgres://postgres:postgres@127.0.0.1:{port}/spinrt");
    let columns = "id:DbDataType::Int32,name:DbDataType::Str,born:DbDataType::Date,\
                   weight:DbDataType::Floating64,tags:DbDataType::Other";
    let row = |id: u32, name: &str| {
        format!(
            "DbValue::Int32({id}),DbValue::Str(\"{name}\"),DbValue::Date((2020, 2, 29)),\
             DbValue::Floating64(4.5),DbValue::Unsupported"
        )
    };
    let post =
        |address: &str, name: &str| request(up.addr, "POST", &format!("/pg3?{address}"), name);
    assert_eq!(
        post(&address, "rex"),
        (200, format!("{columns}\n{}", row(1, "rex")))
    );
    assert_eq!(
        post(&address, "bo"),
        (
            200,
            format!("{columns}\n{}\n{}", row(1, "rex"), row(2, "bo"))
        )
    );
    let (status, body) = post(&address.replace("/spinrt", "/nope"), "x");
    assert_eq!(status, 500);
    assert!(
        body.contains("ConnectionFailed") && body.contains("nope"),
        "{body}"
    );
    let (status, body) = post(&address.replace("127.0.0.1", "localhost"), "x");
    assert_eq!(status, 500);
    assert!(body.contains("is not permitted"), "{body}");
}

/// Spin 2's `fermyon:spin/postgres@2.0.0` (spin-sdk 3's `pg`), on the shared rdbms types,
/// served by the @4 implementation; PostgreSQL has no unsigned integers.
#[test]
fn postgres_2_values_cross_and_unsigned_parameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = services::postgres("spinrt", &[]);
    let port = db.port.to_string();
    let up = start(
        dir.path(),
        &[("SPIN_VARIABLE_PG_PORT", port.as_str())],
        "pg2.log",
    );
    let address = format!("postgres://postgres:postgres@127.0.0.1:{port}/spinrt");
    let columns = "id:DbDataType::Int32,name:DbDataType::Str,weight:DbDataType::Floating64,\
                   big:DbDataType::Int64,photo:DbDataType::Binary,tags:DbDataType::Other";
    let row = |id: u32, name: &str| {
        format!(
            "DbValue::Int32({id}),DbValue::Str(\"{name}\"),DbValue::Floating64(4.5),\
             DbValue::Int64(-9007199254740993),DbValue::Binary([0, 1, 2, 255]),\
             DbValue::Unsupported"
        )
    };
    let post = |name: &str| request(up.addr, "POST", &format!("/granted/pg?{address}"), name);
    assert_eq!(post("rex"), (200, format!("{columns}\n{}", row(1, "rex"))));
    assert_eq!(
        post("bo"),
        (
            200,
            format!("{columns}\n{}\n{}", row(1, "rex"), row(2, "bo"))
        )
    );
    let (status, body) = get(up.addr, &format!("/granted/pg-unsigned?{address}"));
    assert_eq!(status, 500);
    assert!(
        body.contains("BadParameter") && body.contains("unsigned"),
        "{body}"
    );
    let (status, body) = request(up.addr, "POST", &format!("/denied/pg?{address}"), "x");
    assert_eq!(status, 500);
    assert!(body.contains("is not permitted"), "{body}");
}

/// Outbound Redis and MQTT from our own app: values round-trip through Debian's
/// `redis-server`, a message published by the guest reaches a subscriber of `mosquitto`, and
/// servers the component was not granted are refused.
#[test]
fn redis_and_mqtt_reach_granted_servers_only() {
    let dir = tempfile::tempdir().unwrap();
    let redis = services::redis();
    let broker = services::mqtt();
    let (redis_port, mqtt_port) = (redis.port.to_string(), broker.port.to_string());
    let up = start(
        dir.path(),
        &[
            ("SPIN_VARIABLE_REDIS_PORT", redis_port.as_str()),
            ("SPIN_VARIABLE_MQTT_PORT", mqtt_port.as_str()),
        ],
        "redis-mqtt.log",
    );
    let addr = up.addr;
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let redis_path = format!("/granted/redis?{redis_url}");
    assert_eq!(
        request(addr, "POST", &redis_path, "v1"),
        (200, "v1,1".into())
    );
    assert_eq!(
        request(addr, "POST", &redis_path, "v2"),
        (200, "v2,2".into())
    );
    let (status, body) = request(addr, "POST", &format!("/denied/redis?{redis_url}"), "x");
    assert_eq!(status, 500);
    assert!(body.contains("InvalidAddress"), "{body}");

    // Spin's MQTT addresses name the client (rumqttc's URL form).
    let mqtt_url = format!("mqtt://127.0.0.1:{mqtt_port}?client_id=spinrt-app");
    let path = format!("/granted/mqtt?{mqtt_url}");
    let (topic, payload, answer) =
        services::first_message_after(broker.port, "spinrt/test", move || {
            request(addr, "POST", &path, "hello mqtt")
        });
    assert_eq!(answer, (200, "published".into()));
    assert_eq!(
        (topic.as_str(), payload),
        ("spinrt/test", b"hello mqtt".to_vec())
    );
    let (status, body) = request(addr, "POST", &format!("/denied/mqtt?{mqtt_url}"), "x");
    assert_eq!(status, 500);
    assert!(body.contains("ConnectionFailed"), "{body}");
}

/// The same `wasi:keyvalue` calls when the runtime config puts the store in Redis: values,
/// increments (INCRBY) and compare-and-swap (a server-side script) behave as on SQLite.
#[test]
fn wasi_keyvalue_on_a_redis_store() {
    let dir = tempfile::tempdir().unwrap();
    let redis = services::redis();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
            redis.port
        ),
    )
    .unwrap();
    let up = Up::start(
        apps::manifest_dir("sdk5"),
        &["--runtime-config-file", config.to_str().unwrap()],
        &dir.path().join("redis-kv.log"),
    );
    assert_eq!(
        request(up.addr, "PUT", "/wasi-kv/default/k1", "v1"),
        (200, "stored".into())
    );
    assert_eq!(get(up.addr, "/wasi-kv/default/k1"), (200, "v1".into()));
    assert_eq!(
        request(up.addr, "POST", "/wasi-kv/default/hits/increment", "5"),
        (200, "5".into())
    );
    assert_eq!(
        request(up.addr, "POST", "/wasi-kv/default/hits/increment", "-2"),
        (200, "3".into())
    );
    assert_eq!(
        request(up.addr, "POST", "/wasi-kv/default/k1/race", "slow"),
        (200, "found fast then swapped to slow".into())
    );
    // A key that does not exist yet: the swap from "absent" wins once.
    assert_eq!(
        request(up.addr, "POST", "/wasi-kv/default/fresh/race", "slow"),
        (200, "found fast then swapped to slow".into())
    );
    assert_eq!(services::redis_cli(redis.port, &["GET", "k1"]), "slow");
}
