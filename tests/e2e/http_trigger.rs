//! The HTTP trigger over real HTTP on loopback, serving the real test apps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spinrt_engine::{Engine, EngineConfig, HostConfig, LoadedApp, PoolingLimits};
use spinrt_tests::{apps, net, server::echo_lines};
use spinrt_trigger_http::{HttpServer, InstanceReuse, ServeOptions};

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dirs: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn engine_config(cache: &std::path::Path) -> EngineConfig {
    EngineConfig {
        cache_dir: Some(cache.to_path_buf()),
        pooling: PoolingLimits {
            total_component_instances: 64,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// One precompile cache for every test here: each component compiles once per run.
fn shared_cache() -> &'static std::path::Path {
    static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

async fn serve(app_name: &str) -> Running {
    serve_with(app_name, ServeOptions::default()).await
}

async fn serve_with(app_name: &str, options: ServeOptions) -> Running {
    let dirs = tempfile::tempdir().unwrap();
    let app = spinrt_app::manifest::load(&apps::manifest_dir(app_name)).unwrap();
    let engine = Engine::new(&engine_config(shared_cache())).unwrap();
    let host = HostConfig {
        state_dir: Some(dirs.path().join("state")),
        ..Default::default()
    };
    let loaded = LoadedApp::load(&engine, app, host).unwrap();
    let server = Arc::new(HttpServer::new(Arc::new(loaded), InstanceReuse::default()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(
        listener,
        async move {
            let _ = stopped.await;
        },
        options,
    ));
    Running {
        addr,
        stop: Some(stop),
        _dirs: dirs,
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let res = net::client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_component_wasip2() {
    let app = serve("hello").await;
    let res = net::client()
        .get(format!("http://{}/anything", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert_eq!(res.text().await.unwrap(), "Hello from Spin!\n");
}

/// As on Spin, a guest's memory is not capped unless asked: a spin-sdk 3 component that reads
/// a 64 MiB body whole (and echoes it) answers 200; a 256 MiB cap made it a 500.
#[tokio::test(flavor = "multi_thread")]
async fn a_64_mib_body_read_whole_is_answered() {
    let app = serve("echo").await;
    let body = vec![b'a'; 64 << 20];
    let res = net::client()
        .post(format!("http://{}/big", app.addr))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let echoed = text
        .lines()
        .find_map(|l| l.strip_prefix("body: "))
        .unwrap_or_default();
    assert_eq!(echoed.len(), 64 << 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_core_module_wasip1_is_componentized() {
    let app = serve("hello-wasip1").await;
    assert_eq!(get(app.addr, "/").await, (200, "Hello from Spin!\n".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_v1_is_served() {
    let app = serve("hello-v1").await;
    assert_eq!(
        get(app.addr, "/v1/x").await,
        (200, "Hello from Spin!\n".into())
    );
    assert_eq!(get(app.addr, "/other").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_unmatched_routes() {
    let app = serve("routes").await;
    assert_eq!(
        get(app.addr, "/.well-known/spin/health").await,
        (200, "OK".into())
    );
    assert_eq!(get(app.addr, "/.well-known/spin/nope").await.0, 404);
    assert_eq!(get(app.addr, "/nope").await, (404, String::new()));
    assert_eq!(get(app.addr, "/exact/more").await.0, 404);
    let (status, info) = get(app.addr, "/.well-known/spin/info").await;
    assert_eq!(status, 200);
    assert!(info.contains("\"name\":\"routes\""), "{info}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_route_headers() {
    let app = serve("routes").await;
    let (status, body) = get(app.addr, "/exact?x=1&y=2").await;
    assert_eq!(status, 200, "{body}");
    let h = echo_lines(&body);
    assert_eq!(h["component"], "echo-exact");
    assert_eq!(
        h["spin-full-url"],
        format!("http://{}/exact?x=1&y=2", app.addr)
    );
    assert_eq!(h["spin-path-info"], "");
    assert_eq!(h["spin-matched-route"], "/exact");
    assert_eq!(h["spin-raw-component-route"], "/exact");
    assert_eq!(h["spin-component-route"], "/exact");
    assert_eq!(h["spin-base-path"], "/");
    let client: SocketAddr = h["spin-client-addr"].parse().unwrap();
    assert_eq!(client.ip().to_string(), "127.0.0.1");
    assert_ne!(client.port(), app.addr.port());
    assert!(
        !h.keys().any(|k| k.starts_with("spin-path-match-")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wildcard_route_headers() {
    let app = serve("routes").await;
    for (path, info) in [
        ("/wild", ""),
        ("/wild/", "/"),
        ("/wild/a/b", "/a/b"),
        ("/wild/a/b/", "/a/b/"),
    ] {
        let (status, body) = get(app.addr, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        let h = echo_lines(&body);
        assert_eq!(h["component"], "echo-wild", "{path}");
        assert_eq!(h["spin-path-info"], info, "{path}");
        assert_eq!(h["spin-matched-route"], "/wild/...", "{path}");
        assert_eq!(h["spin-raw-component-route"], "/wild/...", "{path}");
        assert_eq!(h["spin-component-route"], "/wild", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parameter_route_headers() {
    let app = serve("routes").await;
    let (status, body) = get(app.addr, "/users/42").await;
    assert_eq!(status, 200, "{body}");
    let h = echo_lines(&body);
    assert_eq!(h["component"], "echo-param");
    assert_eq!(h["spin-path-match-user-id"], "42");
    assert_eq!(h["spin-matched-route"], "/users/:user_id");
    assert_eq!(h["spin-path-info"], "");

    // The same echo app built for wasip1, behind a parameter and a wildcard.
    let (status, body) = get(app.addr, "/users/7/files/x/y.txt").await;
    assert_eq!(status, 200, "{body}");
    let h = echo_lines(&body);
    assert_eq!(h["component"], "echo-param-wild");
    assert_eq!(h["spin-path-match-user-id"], "7");
    assert_eq!(h["spin-path-info"], "/x/y.txt");
    assert_eq!(h["spin-raw-component-route"], "/users/:user_id/files/...");
    assert_eq!(h["spin-component-route"], "/users/:user_id/files");
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_cannot_forge_spin_headers_and_bodies_reach_the_guest() {
    let app = serve("routes").await;
    let res = net::client()
        .post(format!("http://{}/exact", app.addr))
        .header("spin-path-info", "/forged")
        .header("spin-component-route", "/forged")
        .body("posted body")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-echo-component"], "echo-exact");
    let h = echo_lines(&res.text().await.unwrap());
    assert_eq!(h["method"], "Method::Post");
    assert_eq!(h["body"], "posted body");
    assert_eq!(h["spin-path-info"], "");
    assert_eq!(h["spin-component-route"], "/exact");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_and_components_serve_side_by_side() {
    let app = serve("routes").await;
    assert_eq!(
        get(app.addr, "/hello").await,
        (200, "Hello from Spin!\n".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_is_a_500_and_the_server_keeps_serving() {
    let app = serve("trap").await;
    assert_eq!(get(app.addr, "/trap").await, (500, String::new()));
    assert_eq!(get(app.addr, "/ok").await, (200, "still alive\n".into()));
    assert_eq!(get(app.addr, "/trap").await.0, 500);
    assert_eq!(get(app.addr, "/ok").await.0, 200);
}

/// A client that starts a request and never finishes its headers is disconnected once the
/// header read timeout has passed, not before; others are served meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let timeout = Duration::from_millis(500);
    let options = ServeOptions {
        header_read_timeout: timeout,
        ..ServeOptions::default()
    };
    let app = serve_with("hello", options).await;

    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    assert_eq!(get(app.addr, "/").await.0, 200);
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "still connected 10 s after half a request");
    assert!(
        started.elapsed() >= timeout,
        "disconnected after {:?}, before the {timeout:?} timeout",
        started.elapsed()
    );
    assert_eq!(get(app.addr, "/").await.0, 200);
}

/// Pooled slots are reused: whatever a guest wrote to its globals and linear memory (below and
/// above the part kept resident) must be gone for the next request.
#[tokio::test(flavor = "multi_thread")]
async fn no_state_survives_from_one_request_to_the_next() {
    let app = serve("trap").await;
    for _ in 0..20 {
        assert_eq!(
            get(app.addr, "/remember").await,
            (200, "calls=1 marks=0\n".into())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guests_stuck_in_loops_do_not_starve_others() {
    let app = serve("trap").await;
    // Two guests spinning forever: as many as this machine has cores.
    let looping: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("http://{}/loop", app.addr);
            tokio::spawn(async move {
                let _ = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap()
                    .get(url)
                    .send()
                    .await;
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(get(app.addr, "/ok").await.0, 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }
    for l in looping {
        l.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn component_files_are_served_and_nothing_outside_them() {
    let app = serve("routes").await;
    assert_eq!(
        get(app.addr, "/static/small.txt").await,
        (200, "tiny\n".into())
    );
    assert_eq!(
        get(app.addr, "/static/sub/large.txt").await,
        (200, format!("{}\n", "x".repeat(300)))
    );
    assert_eq!(get(app.addr, "/static/missing.txt").await.0, 404);
    // A raw request, so no client normalises the dots away.
    for path in [
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static//etc/passwd",
    ] {
        let (status, body) = raw_get(app.addr, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("root:"), "{path} leaked /etc/passwd: {body}");
    }
}

async fn raw_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    net::parse_response(&response)
}

/// The `wagi` app's `/env` answer: its arguments, and its environment as a map.
fn wagi_env(body: &str) -> (Vec<String>, std::collections::BTreeMap<String, String>) {
    let args = body
        .lines()
        .filter_map(|l| l.strip_prefix("arg="))
        .map(str::to_string)
        .collect();
    let env = body
        .lines()
        .filter(|l| !l.starts_with("arg="))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (args, env)
}

/// WAGI as Spin runs it: the request in a command's environment, arguments and stdin; the
/// response from its stdout (a wasm32-wasip1 module and a wasm32-wasip2 component).
#[tokio::test(flavor = "multi_thread")]
async fn wagi_commands_get_the_request_as_cgi_and_answer_on_stdout() {
    let app = serve("wagi").await;
    let res = net::client()
        .get(format!("http://{}/cgi/env?a=1&b=two", app.addr))
        .header("x-custom", "custom value")
        .header("authorization", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert_eq!(res.headers()["x-wagi"], "yes");
    let (args, env) = wagi_env(&res.text().await.unwrap());
    assert_eq!(args, ["/cgi/env", "a=1", "b=two"]);
    let addr = app.addr;
    for (name, value) in [
        ("REQUEST_METHOD", "GET".to_string()),
        ("QUERY_STRING", "a=1&b=two".into()),
        ("SCRIPT_NAME", "/cgi".into()),
        ("PATH_INFO", "/env".into()),
        ("X_MATCHED_ROUTE", "/cgi/...".into()),
        ("X_FULL_URL", format!("http://{addr}/cgi/env?a=1&b=two")),
        ("SERVER_NAME", "127.0.0.1".into()),
        ("SERVER_PORT", addr.port().to_string()),
        ("SERVER_PROTOCOL", "HTTP/1.1".into()),
        ("GATEWAY_INTERFACE", "CGI/1.1".into()),
        ("REMOTE_ADDR", "127.0.0.1".into()),
        ("CONTENT_LENGTH", "0".into()),
        ("HTTP_X_CUSTOM", "custom value".into()),
        ("FROM_MANIFEST", "kept".into()),
    ] {
        assert_eq!(env.get(name), Some(&value), "{name} in {env:?}");
    }
    // CGI keeps credentials and hop-by-hop fields out; Spin's values are not headers here.
    assert!(!env.contains_key("HTTP_AUTHORIZATION"), "{env:?}");
    assert!(!env.keys().any(|k| k.starts_with("HTTP_SPIN_")), "{env:?}");

    // The wasip2 component, with argv from the manifest and a route parameter.
    let res = net::client()
        .post(format!("http://{}/cgi2/someone/env?x=y", app.addr))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (args, env) = wagi_env(&res.text().await.unwrap());
    assert_eq!(args, ["/cgi2/someone/env", "fixed", "x=y"]);
    assert_eq!(env["REQUEST_METHOD"], "POST");
    assert_eq!(env["CONTENT_TYPE"], "application/json");
    assert_eq!(env["CONTENT_LENGTH"], "2");
    assert_eq!(env["X_PATH_MATCH_NAME"], "someone");
    assert!(!env.contains_key("FROM_MANIFEST"), "{env:?}");

    // The body on stdin, the stdout after the blank line as the body, bytes as they are.
    let body: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    for route in ["/cgi/echo", "/cgi2/x/echo"] {
        let res = net::client()
            .put(format!("http://{}{route}", app.addr))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{route}");
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            body.as_slice(),
            "{route}"
        );
    }

    // The wasi:http component beside them is unchanged.
    assert_eq!(
        get(app.addr, "/hello").await,
        (200, "Hello from Spin!\n".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wagi_status_location_and_failures_as_spin_answers_them() {
    let app = serve("wagi").await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirects
        .get(format!("http://{}/cgi/redirect", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/elsewhere");
    assert_eq!(
        get(app.addr, "/cgi/teapot").await,
        (418, "short and stout".into())
    );
    // A command that exits non-zero, writes nothing, or writes no CGI headers: 500, and the
    // server goes on.
    for path in ["/cgi/exit", "/cgi/silent", "/cgi/no-content-type"] {
        assert_eq!(get(app.addr, path).await.0, 500, "{path}");
    }
    assert_eq!(get(app.addr, "/cgi/teapot").await.0, 418);
}

#[test]
fn a_wagi_route_to_a_component_that_is_no_command_fails_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = apps::wasm("wasm32-wasip2", "hello");
    std::fs::write(
        dir.path().join("spin.toml"),
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"bad-wagi\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"h\"\nexecutor = {{ type = \"wagi\" }}\n\
             [component.h]\nsource = {:?}\n",
            wasm.to_str().unwrap()
        ),
    )
    .unwrap();
    let app = spinrt_app::manifest::load(dir.path()).unwrap();
    let engine = Engine::new(&engine_config(shared_cache())).unwrap();
    let loaded = LoadedApp::load(&engine, app, HostConfig::default()).unwrap();
    let err = HttpServer::new(Arc::new(loaded), InstanceReuse::default())
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("component 'h' is routed with the WAGI executor but is no WASI command"),
        "{err}"
    );
}
