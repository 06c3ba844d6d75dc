//! OpenTelemetry traces over OTLP/HTTP, received by a test receiver built on the protocol's
//! protobuf definitions: a request carrying a `traceparent` whose guest calls an upstream over
//! outbound HTTP gives a server span continuing the caller's trace and a client span under it,
//! whose `traceparent` the upstream sees; key-value, SQLite and Redis calls are spans of their
//! request; a span the guest emits through `wasi:otel` joins the trace, its key-value call under
//! it; the same over OTLP/gRPC; an unreachable collector costs the requests nothing. Through
//! `spinrt up` (a spin-sdk 7 app) and containerd 2.1 (a spin-sdk 2 app).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use spinrt_tests::bins::Up;
use spinrt_tests::containerd::{Containerd, Version, unique_id};
use spinrt_tests::net::{block_on, client, free_port};
use spinrt_tests::otlp::{OtlpReceiver, attribute};
use spinrt_tests::{apps, images};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
/// The trace of the request whose guest emits a span of its own.
const GUEST_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// An upstream on loopback that answers `ok` and keeps the `traceparent` of each request.
fn upstream() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("traceparent:") {
                    kept.lock().unwrap().push(value.trim().to_string());
                }
                line.clear();
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (port, seen)
}

/// A test app whose component fetches a URL it is given, and how it is given.
struct App {
    name: &'static str,
    /// The path that has the guest fetch `{url}`.
    fetch: &'static str,
}

/// spin-sdk 7 (WASI 0.3) and spin-sdk 2 (WASI 0.2's 2023-10-18 candidate), both routed `/...`.
const SDK7: App = App {
    name: "sdk7",
    fetch: "/outbound?{url}",
};
const SDK2: App = App {
    name: "sdk2",
    fetch: "/outbound?url={url}",
};

/// A request with the caller's `traceparent` that has the guest fetch from the upstream.
fn traced_request(app: &App, addr: SocketAddr, upstream_port: u16) -> (u16, String) {
    let path = app
        .fetch
        .replace("{url}", &format!("http://127.0.0.1:{upstream_port}/data"));
    block_on(async {
        let res = client()
            .get(format!("http://{addr}{path}"))
            .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The spans of one traced request: the server span continues the caller's trace, the
/// outbound request's client span is its child, and the upstream saw the client span's id.
fn assert_trace(app: &App, receiver: &OtlpReceiver, upstream_saw: &Mutex<Vec<String>>) {
    let server = receiver.wait_for(SpanKind::Server, "GET /...");
    assert_eq!(hex(&server.trace_id), TRACE_ID);
    assert_eq!(hex(&server.parent_span_id), CALLER_SPAN_ID);
    assert_eq!(attribute(&server, "http.route").as_deref(), Some("/..."));
    assert_eq!(
        attribute(&server, "spin.component_id").as_deref(),
        Some(app.name)
    );
    assert_eq!(
        attribute(&server, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        attribute(&server, "http.response.status_code").as_deref(),
        Some("200")
    );

    let outbound = receiver.wait_for(SpanKind::Client, "GET");
    assert_eq!(hex(&outbound.trace_id), TRACE_ID);
    assert_eq!(outbound.parent_span_id, server.span_id);
    assert_eq!(
        attribute(&outbound, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attribute(&outbound, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(outbound.start_time_unix_nano >= server.start_time_unix_nano);
    assert!(outbound.end_time_unix_nano <= server.end_time_unix_nano);

    assert_eq!(
        *upstream_saw.lock().unwrap(),
        [format!("00-{TRACE_ID}-{}-01", hex(&outbound.span_id))]
    );
}

fn otel_env(endpoint: &str) -> [(&'static str, String); 3] {
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_string()),
        ("OTEL_SERVICE_NAME", "traced-app".to_string()),
        // Export each batch after 100 ms, not 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
    ]
}

fn start_up(app: &App, dir: &std::path::Path, upstream_port: u16, otel: &[(&str, String)]) -> Up {
    let port = upstream_port.to_string();
    let mut envs = vec![("SPIN_VARIABLE_UPSTREAM_PORT", port.as_str())];
    envs.extend(otel.iter().map(|(k, v)| (*k, v.as_str())));
    let state = dir.join("state");
    Up::try_start(
        apps::manifest_dir(app.name),
        &["--no-cache", "--state-dir", state.to_str().unwrap()],
        &envs,
        &dir.join("up.log"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_request_and_its_outbound_call_are_traced_through_spinrt_up() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = OtlpReceiver::start();
    let (upstream_port, upstream_saw) = upstream();
    let redis = spinrt_tests::services::redis();
    let mut env = otel_env(&receiver.endpoint()).to_vec();
    env.push(("SPIN_VARIABLE_REDIS_PORT", redis.port.to_string()));
    let mut up = start_up(&SDK7, dir.path(), upstream_port, &env);
    let (status, body) = traced_request(&SDK7, up.addr, upstream_port);
    assert_eq!((status, body.as_str()), (200, "200 ok"));
    assert_trace(&SDK7, &receiver, &upstream_saw);

    // A key-value call is a span of its request too (a new trace: no traceparent this time).
    let stored = block_on(async {
        let res = client()
            .put(format!("http://{}/kv/traced", up.addr))
            .body("value")
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    });
    assert_eq!(stored, (200, "stored".into()));
    let server = receiver.wait_for(SpanKind::Server, "PUT /...");
    let set = receiver.wait_for(SpanKind::Client, "key_value set");
    assert_eq!(set.trace_id, server.trace_id);
    assert_ne!(hex(&server.trace_id), TRACE_ID);
    assert!(
        server.parent_span_id.is_empty(),
        "a new trace has no parent"
    );
    assert_eq!(set.parent_span_id, server.span_id);
    assert_eq!(attribute(&set, "db.namespace").as_deref(), Some("default"));
    assert_eq!(attribute(&set, "db.operation.name").as_deref(), Some("set"));

    // So are SQLite statements and Redis commands, named as they were called.
    let children_of = |request: &str| {
        let (status, body) = spinrt_tests::net::blocking_request(up.addr, "POST", request, "n");
        assert_eq!(status, 200, "{request}: {body}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let spans = receiver.spans();
            let server = spans.iter().find(|s| {
                s.kind == SpanKind::Server as i32
                    && s.name == "POST /..."
                    && attribute(s, "url.path").as_deref()
                        == Some(request.split('?').next().unwrap())
            });
            if let Some(server) = server {
                let mut names: Vec<String> = spans
                    .iter()
                    .filter(|s| s.parent_span_id == server.span_id)
                    .map(|s| s.name.clone())
                    .collect();
                names.sort();
                if !names.is_empty() {
                    return names;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{request}: {spans:#?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let sqlite = children_of("/sqlite");
    assert!(
        !sqlite.is_empty() && sqlite.iter().all(|n| n == "sqlite execute"),
        "{sqlite:?}"
    );
    let redis_url = format!("/redis?redis://127.0.0.1:{}", redis.port);
    let commands = children_of(&redis_url);
    for command in [
        "redis SET",
        "redis GET",
        "redis INCR",
        "redis SADD",
        "redis SMEMBERS",
        "redis ECHO",
    ] {
        assert!(
            commands.iter().any(|n| n == command),
            "{command} not in {commands:?}"
        );
    }

    // A span the guest emits through wasi:otel joins the request's trace under its server
    // span, and the key-value call the guest made while it was open is its child.
    let (status, body) = block_on(async {
        let res = client()
            .get(format!("http://{}/otel", up.addr))
            .header(
                "traceparent",
                format!("00-{GUEST_TRACE_ID}-{CALLER_SPAN_ID}-01"),
            )
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    let guest = receiver.wait_for(SpanKind::Internal, "guest work");
    let in_trace = |kind: SpanKind, name: &str| {
        receiver
            .spans()
            .into_iter()
            .find(|s| s.kind == kind as i32 && s.name == name && hex(&s.trace_id) == GUEST_TRACE_ID)
            .unwrap_or_else(|| panic!("no {name} in the guest's trace: {:#?}", receiver.spans()))
    };
    let server = in_trace(SpanKind::Server, "GET /...");
    assert_eq!(
        body,
        format!("outer {GUEST_TRACE_ID} {}", hex(&server.span_id))
    );
    assert_eq!(hex(&guest.trace_id), GUEST_TRACE_ID);
    assert_eq!(hex(&guest.span_id), "5eed5eed5eed5eed");
    assert_eq!(guest.parent_span_id, server.span_id);
    assert_eq!(attribute(&guest, "guest.answer").as_deref(), Some("42"));
    assert_eq!(attribute(&guest, "guest.word").as_deref(), Some("hello"));
    assert!(
        attribute(&guest, "guest.flags").is_some_and(|v| v.contains("BoolValue(true)")),
        "{guest:#?}"
    );
    assert_eq!(guest.events.len(), 1, "{guest:#?}");
    assert_eq!(guest.events[0].name, "stored");
    assert!(guest.start_time_unix_nano <= guest.events[0].time_unix_nano);
    assert!(guest.events[0].time_unix_nano <= guest.end_time_unix_nano);
    assert_eq!(
        guest.status.as_ref().map(|s| s.code),
        Some(opentelemetry_proto::tonic::trace::v1::status::StatusCode::Ok as i32)
    );
    let set = in_trace(SpanKind::Client, "key_value set");
    assert_eq!(set.parent_span_id, guest.span_id);
    // Ending a span never started traps, as in Spin.
    let (status, _) = spinrt_tests::net::blocking_get(up.addr, "/otel?unstarted");
    assert_eq!(status, 500);
    // The host keeps each open span, so a guest may not open them without end.
    let (status, _) = spinrt_tests::net::blocking_get(up.addr, "/otel?flood");
    assert_eq!(status, 500);

    // Probes of the health endpoint are not traced.
    let _ = spinrt_tests::net::blocking_get(up.addr, "/.well-known/spin/health");
    assert!(up.terminate().success());
    let log = std::fs::read_to_string(dir.path().join("up.log")).unwrap();
    assert!(
        log.contains("ended span 0123456789abcdef, which it never started"),
        "{log}"
    );
    assert!(
        log.contains("the guest has 1024 spans open at once"),
        "{log}"
    );
    assert!(
        receiver
            .spans()
            .iter()
            .all(|s| !s.name.contains("well-known")),
        "{:#?}",
        receiver.spans()
    );
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`: the same spans reach a collector over OTLP/gRPC.
#[test]
fn traces_go_over_grpc_when_the_protocol_says_so() {
    let receiver = OtlpReceiver::start_grpc();
    let mut env = otel_env(&receiver.endpoint()).to_vec();
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()));
    assert_traced_through_up(&receiver, &env);
}

/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` alone, the whole URL as OTLP's specification has it
/// (the common variable is a base `/v1/traces` is added to): the same spans arrive.
#[test]
fn traces_go_to_the_traces_endpoint_as_given() {
    let receiver = OtlpReceiver::start();
    let mut env = otel_env(&receiver.endpoint()).to_vec();
    env.retain(|(name, _)| *name != "OTEL_EXPORTER_OTLP_ENDPOINT");
    env.push((
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        format!("{}/v1/traces", receiver.endpoint()),
    ));
    assert_traced_through_up(&receiver, &env);
}

/// `spinrt up` (spin-sdk 7) started with `otel`: one traced request's spans reach `receiver`
/// as [`assert_trace`] expects them, and the server stops cleanly.
fn assert_traced_through_up(receiver: &OtlpReceiver, otel: &[(&str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let (upstream_port, upstream_saw) = upstream();
    let mut up = start_up(&SDK7, dir.path(), upstream_port, otel);
    let (status, body) = traced_request(&SDK7, up.addr, upstream_port);
    assert_eq!((status, body.as_str()), (200, "200 ok"));
    assert_trace(&SDK7, receiver, &upstream_saw);
    assert!(up.terminate().success());
}

/// A protocol we do not speak is refused at start, by name.
#[test]
fn an_unsupported_otlp_protocol_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = otel_env("http://127.0.0.1:4318").to_vec();
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_string()));
    let port = upstream().0.to_string();
    let mut envs = vec![("SPIN_VARIABLE_UPSTREAM_PORT", port.as_str())];
    envs.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
    let error = Up::try_start(
        apps::manifest_dir(SDK7.name),
        &["--no-cache"],
        &envs,
        &dir.path().join("up.log"),
    )
    .err()
    .expect("spinrt up refuses http/json");
    assert!(
        error.contains("OTLP protocol http/json is not supported"),
        "{error}"
    );
}

#[test]
fn an_unreachable_collector_costs_the_requests_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream_port, upstream_saw) = upstream();
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let mut up = start_up(&SDK7, dir.path(), upstream_port, &otel_env(&nowhere));
    for _ in 0..5 {
        assert_eq!(
            traced_request(&SDK7, up.addr, upstream_port),
            (200, "200 ok".into())
        );
    }
    // The trace still goes on upstream.
    assert!(
        upstream_saw
            .lock()
            .unwrap()
            .iter()
            .all(|t| t.contains(TRACE_ID)),
        "{:?}",
        upstream_saw.lock().unwrap()
    );
    assert!(up.terminate().success());
}

#[test]
fn a_task_under_containerd_2_1_exports_its_traces() {
    let receiver = OtlpReceiver::start();
    let (upstream_port, upstream_saw) = upstream();
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::spin_artifact(SDK2.name, "localhost/sdk2:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("traced");
    let mut env: Vec<String> = otel_env(&receiver.endpoint())
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.push(format!("SPIN_VARIABLE_UPSTREAM_PORT={upstream_port}"));
    let extra: Vec<&str> = env.iter().flat_map(|e| ["--env", e.as_str()]).collect();
    let addr = ctd.run_detached("localhost/sdk2:v1", &id, &extra);
    let (status, body) = traced_request(&SDK2, addr, upstream_port);
    assert_eq!(status, 200, "{body}\n{}", ctd.log());
    assert_trace(&SDK2, &receiver, &upstream_saw);
    let stopped = ctd.stop(&id);
    assert!(!stopped.contains("non-zero exit"), "{stopped}");
}
