//! Spin 1 modules (what Spin 1's SDKs and the Go SDK v2 build with wit-bindgen 0.2) run as on
//! Spin: the whole request in, the whole response out, and Spin 1's config, outbound HTTP,
//! key-value, SQLite, Redis, PostgreSQL, MySQL and LLM interfaces under the same grants as
//! today's.

use std::path::Path;

use spinrt_tests::bins::Up;
use spinrt_tests::net::{
    Framing, blocking_get as get, blocking_raw_post, blocking_request as request, free_port,
};
use spinrt_tests::{apps, services};

/// `spinrt up` of the spin1 app with outbound ports granted as `(variable, port)` and any
/// other environment.
fn start(dir: &Path, ports: &[(&str, u16)], env: &[(&str, &str)]) -> Up {
    let envs: Vec<(String, String)> = ports
        .iter()
        .map(|(name, port)| (format!("SPIN_VARIABLE_{name}"), port.to_string()))
        .chain(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
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
        &[],
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

/// A Spin 1 guest takes the body whole, in its memory: a body that cannot fit is refused with
/// 413 as it arrives, whether its length is declared or it is chunked, and the guest serves
/// the next request.
#[test]
fn a_body_larger_than_a_spin_1_guest_memory_is_refused_with_413() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 4 << 20;
    let up = start(
        dir.path(),
        &[],
        &[("SPIN_WASMTIME_MAX_MEMORY_SIZE", &limit.to_string())],
    );
    let too_big = "x".repeat(limit + 1);
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let (status, body) = blocking_raw_post(up.addr, "/spin1/echo", &too_big, framing);
        assert_eq!(status, 413, "{framing:?}: {body}");
        assert_eq!(
            body,
            format!(
                "request body larger than the {limit} bytes component 'spin1' can take \
                 whole (its memory limit)\n"
            ),
            "{framing:?}"
        );
    }

    let fits = "y".repeat(64 << 10);
    assert_eq!(
        request(up.addr, "POST", "/spin1/echo", &fits),
        (200, format!("method=POST path-info=/echo body={fits}"))
    );
}
