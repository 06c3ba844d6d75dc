//! Spin 1 modules (what Spin 1's SDKs and the Go SDK v2 build with wit-bindgen 0.2) run as on
//! Spin: the whole request in, the whole response out, and Spin 1's config, outbound HTTP,
//! key-value, SQLite, Redis, PostgreSQL, MySQL and LLM interfaces under the same grants as
//! today's.

use std::path::Path;

use spinrt_tests::bins::Up;
use spinrt_tests::net::{blocking_get as get, blocking_request as request, free_port};
use spinrt_tests::{apps, services};

/// `spinrt up` of the spin1 app with outbound ports granted as `(variable, port)`.
fn start(dir: &Path, ports: &[(&str, u16)]) -> Up {
    let envs: Vec<(String, String)> = ports
        .iter()
        .map(|(name, port)| (format!("SPIN_VARIABLE_{name}"), port.to_string()))
        .collect();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Up::try_start(
        apps::manifest_dir("spin1"),
        &["--no-cache", "--state-dir", dir.to_str().unwrap()],
        &envs,
        &dir.join("up.log"),
    )
    .unwrap()
}

#[test]
fn a_spin_1_module_is_served_with_its_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = services::http_echo();
    let redis = services::redis();
    let pg = services::postgres("spinrt", &[]);
    let my = services::mariadb("spinrt");
    let up = start(
        dir.path(),
        &[
            ("UPSTREAM_PORT", upstream.port),
            ("REDIS_PORT", redis.port),
            ("PG_PORT", pg.port),
            ("MYSQL_PORT", my.port),
        ],
    );
    let addr = up.addr;

    // The request, whole, with the spin-* headers.
    assert_eq!(
        request(addr, "POST", "/spin1/echo", "abc"),
        (200, "method=POST path-info=/echo body=abc".into())
    );
    // Spin 1 has no TRACE.
    assert_eq!(request(addr, "TRACE", "/spin1/echo", "").0, 405);

    // spin-config: the component's variables.
    assert_eq!(
        get(addr, "/spin1/config"),
        (200, "greeting=Hello from Spin 1".into())
    );

    // wasi-outbound-http: allowed, and refused with destination-not-allowed (case 1).
    assert_eq!(
        get(
            addr,
            &format!("/spin1/outbound?url=http://127.0.0.1:{}/", upstream.port)
        ),
        (200, "upstream 200: ".into())
    );
    assert_eq!(
        get(
            addr,
            &format!("/spin1/outbound?url=http://127.0.0.1:{}/", free_port())
        ),
        (502, "http-error 1".into())
    );

    // key-value: a missing key is no-such-key; the count survives between requests.
    assert_eq!(get(addr, "/spin1/kv"), (200, "visits=1".into()));
    assert_eq!(get(addr, "/spin1/kv"), (200, "visits=2".into()));

    // outbound-redis: allowed, then an address the component may not reach.
    let allowed = format!("/spin1/redis?address=redis://127.0.0.1:{}", redis.port);
    assert_eq!(get(addr, &allowed), (200, "counter=1".into()));
    assert_eq!(get(addr, &allowed), (200, "counter=2".into()));
    let denied = format!("/spin1/redis?address=redis://127.0.0.1:{}", free_port());
    assert_eq!(get(addr, &denied), (502, "redis error".into()));

    // llm: no Serverless AI here, so no model is granted.
    let (status, body) = get(addr, "/spin1/llm");
    assert_eq!(status, 403);
    assert!(
        body.starts_with(
            "llm error: invalid-input: The component does not have access to use 'llama2-chat'"
        ),
        "{body}"
    );

    // sqlite: a parameter in, a row out.
    assert_eq!(get(addr, "/spin1/sqlite"), (200, "sqlite=42".into()));

    // outbound-pg and outbound-mysql: a query with a parameter; an address not granted is
    // connection-failed (case 1) naming it.
    let pg_address = format!("postgres://postgres:postgres@127.0.0.1:{}/spinrt", pg.port);
    assert_eq!(
        get(addr, &format!("/spin1/pg?address={pg_address}")),
        (200, "pg n=42".into())
    );
    let my_address = format!("mysql://spin:spin@127.0.0.1:{}/spinrt", my.port);
    assert_eq!(
        get(addr, &format!("/spin1/mysql?address={my_address}")),
        (200, "mysql n=42".into())
    );
    let other = free_port();
    for (db, address) in [
        (
            "pg",
            format!("postgres://postgres:postgres@127.0.0.1:{other}/spinrt"),
        ),
        (
            "mysql",
            format!("mysql://spin:spin@127.0.0.1:{other}/spinrt"),
        ),
    ] {
        let (status, body) = get(addr, &format!("/spin1/{db}?address={address}"));
        assert_eq!(status, 502, "{body}");
        assert!(body.starts_with(&format!("{db} error: case 1: ")), "{body}");
    }
}
