//! Spin 1 modules (what Spin 1's SDKs and the Go SDK v2 build with wit-bindgen 0.2) run as on
//! Spin: the whole request in, the whole response out, and Spin 1's config, outbound HTTP,
//! key-value and Redis interfaces under the same grants as today's.

use std::path::Path;

use spinrt_tests::bins::Up;
use spinrt_tests::net::{blocking_get as get, blocking_request as request, free_port};
use spinrt_tests::{apps, services};

fn start(dir: &Path, upstream_port: u16, redis_port: u16) -> Up {
    let (upstream, redis) = (upstream_port.to_string(), redis_port.to_string());
    Up::try_start(
        apps::manifest_dir("spin1"),
        &["--no-cache", "--state-dir", dir.to_str().unwrap()],
        &[
            ("SPIN_VARIABLE_UPSTREAM_PORT", upstream.as_str()),
            ("SPIN_VARIABLE_REDIS_PORT", redis.as_str()),
        ],
        &dir.join("up.log"),
    )
    .unwrap()
}

#[test]
fn a_spin_1_module_is_served_with_its_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = services::http_echo();
    let redis = services::redis();
    let up = start(dir.path(), upstream.port, redis.port);
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
}
