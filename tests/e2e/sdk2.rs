//! Apps built with spin-sdk 2.x (WASI 0.2.0-rc-2023-10-18 for HTTP and streams) run as they ran
//! on Spin 2: the request reaches them whole, responses stream, outbound HTTP is held to
//! `allowed_outbound_hosts` and the Spin interfaces work, in both WASI builds of the app.

use std::net::SocketAddr;
use std::path::Path;

use spinrt_tests::bins::Up;
use spinrt_tests::net::{block_on, blocking_get as get, client, free_port};
use spinrt_tests::{apps, services};

/// `spinrt up` of the sdk2 app built for `target`, from a manifest like the app's own, with
/// outbound HTTP allowed to `upstream_port`.
fn start(dir: &Path, target: &str, upstream_port: u16) -> Up {
    let manifest = std::fs::read_to_string(apps::manifest_dir("sdk2").join("spin.toml"))
        .unwrap()
        .replace(
            "../../target/wasm32-wasip1/release/sdk2.wasm",
            apps::wasm(target, "sdk2").to_str().unwrap(),
        );
    let app = dir.join(target);
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("spin.toml"), manifest).unwrap();
    let state = app.join("state");
    let port = upstream_port.to_string();
    Up::try_start(
        &app,
        &["--no-cache", "--state-dir", state.to_str().unwrap()],
        &[("SPIN_VARIABLE_UPSTREAM_PORT", port.as_str())],
        &app.join("up.log"),
    )
    .unwrap()
}

/// A PUT with a header and a body: status, the `x-sdk` header the app sets, body.
fn put_echo(addr: SocketAddr, body: &str) -> (u16, Option<String>, String) {
    block_on(async {
        let res = client()
            .put(format!("http://{addr}/echo"))
            .header("x-test", "yes")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let sdk = res
            .headers()
            .get("x-sdk")
            .map(|v| v.to_str().unwrap().to_string());
        (res.status().as_u16(), sdk, res.text().await.unwrap())
    })
}

#[test]
fn a_spin_sdk_2_app_runs_in_both_wasi_builds() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = services::http_echo();
    for target in ["wasm32-wasip1", "wasm32-wasip2"] {
        let up = start(dir.path(), target, upstream.port);
        let addr = up.addr;

        assert_eq!(
            get(addr, "/hello"),
            (200, "Hello from /hello\n".into()),
            "{target}"
        );

        // The body arrives through the release candidate's streams; 200 KiB takes many reads.
        let big = "x".repeat(200 * 1024);
        let (status, sdk, body) = put_echo(addr, &big);
        assert_eq!((status, sdk.as_deref()), (200, Some("2.2")), "{target}");
        assert_eq!(
            body,
            format!("PUT x-test=yes {} bytes: {big}", big.len()),
            "{target}"
        );

        // The head goes first, then the body in pieces.
        assert_eq!(
            get(addr, "/stream?chunks=3"),
            (200, "chunk 0\nchunk 1\nchunk 2\n".into()),
            "{target}"
        );

        // Outbound HTTP: allowed (GET and a POST with a body) and refused.
        let allowed = format!("http://127.0.0.1:{}/", upstream.port);
        assert_eq!(
            get(addr, &format!("/outbound?url={allowed}")),
            (200, "upstream 200: ".into()),
            "{target}"
        );
        assert_eq!(
            get(addr, &format!("/outbound-post?url={allowed}")),
            (200, "upstream 200: ping from sdk2".into()),
            "{target}"
        );
        let (status, body) = get(
            addr,
            &format!("/outbound?url=http://127.0.0.1:{}/", free_port()),
        );
        assert_eq!(status, 502, "{target}: {body}");
        assert!(
            body.contains("HttpRequestDenied") && body.contains("allowed_outbound_hosts"),
            "{target}: {body}"
        );

        // fermyon:spin/key-value@2.0.0 from the same SDK: state across requests.
        assert_eq!(get(addr, "/kv"), (200, "visits: 1\n".into()), "{target}");
        assert_eq!(get(addr, "/kv"), (200, "visits: 2\n".into()), "{target}");
    }
}
