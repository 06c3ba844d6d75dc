//! An app built with spin-sdk 7 (a WASI 0.3 component exporting `wasi:http/handler@0.3.0`)
//! through `spinrt up`: routing, `spin-*` headers, bodies streamed both ways, instances reused
//! as Spin reuses them (and fresh per request when asked), outbound HTTP under `allowed_outbound_hosts`, traps, and Spin's async
//! interfaces against real servers. containerd runs the same component in the `routes` app
//! (tests/e2e/containerd.rs).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use spinrt_tests::bins::Up;
use spinrt_tests::net::{block_on, blocking_get as get, blocking_request as request, client};
use spinrt_tests::{apps, services};

fn start(dir: &Path, upstream_port: u16) -> Up {
    let port = upstream_port.to_string();
    start_with(dir, &[("SPIN_VARIABLE_UPSTREAM_PORT", port.as_str())])
}

fn start_with(dir: &Path, envs: &[(&str, &str)]) -> Up {
    let state = dir.join("state");
    Up::try_start(
        apps::manifest_dir("sdk7"),
        &["--no-cache", "--state-dir", state.to_str().unwrap()],
        envs,
        &dir.join("up.log"),
    )
    .unwrap()
}

/// Reads from `stream` until what was read contains `needle`; everything read.
fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) {
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = stream
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}; read so far: {seen:?}"));
        assert!(n > 0, "connection closed before {needle:?}: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// A chunked POST to `/echo` that sends its second chunk only once the first came back: the
/// guest streams the request body in and the response body out at the same time.
fn echo_interleaved(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = "POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut seen = Vec::new();
    for piece in ["first-piece;", "second-piece;", "third-piece;"] {
        stream
            .write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())
            .unwrap();
        read_until(&mut stream, &mut seen, piece);
    }
    stream.write_all(b"0\r\n\r\n").unwrap();
    let _ = stream.read_to_end(&mut seen);
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn a_spin_sdk_7_app_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = services::http_echo();
    let up = start(dir.path(), upstream.port);
    let addr = up.addr;

    // The spin-* headers reach the guest (it echoes them as x-spin-*).
    let headers = block_on(async {
        let res = client()
            .post(format!("http://{addr}/echo?q=1"))
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let headers = res.headers().clone();
        assert_eq!(res.text().await.unwrap(), "hello");
        headers
    });
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("x-method").as_deref(), Some("POST"));
    let url = format!("http://{addr}/echo?q=1");
    assert_eq!(header("x-spin-full-url"), Some(url.clone()));
    assert_eq!(header("x-uri"), Some(url));
    assert_eq!(header("x-spin-path-info").as_deref(), Some("/echo"));
    assert_eq!(header("x-spin-matched-route").as_deref(), Some("/..."));
    assert_eq!(
        header("x-spin-client-addr").map(|a| a.starts_with("127.0.0.1:")),
        Some(true)
    );

    // Both ways at once: each piece comes back before the next is sent.
    let raw = echo_interleaved(addr);
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    for piece in ["first-piece;", "second-piece;", "third-piece;"] {
        assert!(raw.contains(piece), "{raw}");
    }

    // A large body, in and out.
    let big = "0123456789abcdef".repeat(256 * 1024);
    let started = std::time::Instant::now();
    let body = block_on(async {
        let res = client()
            .post(format!("http://{addr}/echo"))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    });
    eprintln!("4 MiB echo: {:?}", started.elapsed());
    assert_eq!(body.len(), big.len());
    assert!(body == big, "the 4 MiB echo differs");

    let started = std::time::Instant::now();
    // A body the guest writes from a task it spawned after returning the head.
    let (status, body) = get(addr, "/count?n=2000");
    assert_eq!(status, 200);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 2000);
    assert_eq!((lines[0], lines[1999]), ("line 1", "line 2000"));
    eprintln!("2000 lines: {:?}", started.elapsed());

    // 16 at a time are all answered (by instances serving several at once).
    let answers = requests_at_once(addr, 16);
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");

    // Outbound HTTP: the allowed upstream answers; any other port is refused by the host.
    let (status, body) = get(
        addr,
        &format!("/outbound?http://127.0.0.1:{}/", upstream.port),
    );
    assert_eq!((status, body.as_str()), (200, "200 "));
    let other = spinrt_tests::net::free_port();
    let (status, body) = get(addr, &format!("/outbound?http://127.0.0.1:{other}/"));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");

    // A trap is a 500, and so is an error code instead of a response; the next request is
    // served.
    assert_eq!(get(addr, "/panic").0, 500);
    assert_eq!(get(addr, "/fail").0, 500);
    assert_eq!(get(addr, "/requests").0, 200);
    assert_eq!(get(addr, "/.well-known/spin/health"), (200, "OK".into()));

    // wasi:otel with tracing off: the guest's calls do nothing and it is given the empty
    // span context (the spans themselves: tests/e2e/traces.rs).
    assert_eq!(
        get(addr, "/otel"),
        (200, format!("outer {} {}", "0".repeat(32), "0".repeat(16)))
    );
    assert_eq!(get(addr, "/otel?unstarted"), (200, "ended".into()));
    assert_eq!(get(addr, "/otel?flood"), (200, "opened 2000".into()));

    let log = std::fs::read_to_string(dir.path().join("up.log")).unwrap();
    assert!(log.contains("component 'sdk7'"), "{log}");
    assert!(
        log.contains("not in allowed_outbound_hosts"),
        "the refusal is not logged:\n{log}"
    );
    assert!(
        log.contains("returned an error instead of a response") && log.contains("failing as asked"),
        "the guest's error is not logged:\n{log}"
    );
}

/// A 0.3 guest computing without end yields at every epoch tick like a 0.2 one: with more busy
/// guests than the server has threads, other requests are still answered at once. A guest
/// growing past its memory cap (SpinKube's `SPIN_MAX_INSTANCE_MEMORY`) gets a 500 and the
/// server goes on.
#[test]
fn busy_and_greedy_spin_sdk_7_guests_do_not_hold_up_others() {
    let dir = tempfile::tempdir().unwrap();
    // SpinKube's cap on a guest's memory (none by default, as on Spin).
    let up = start_with(
        dir.path(),
        &[
            ("SPIN_VARIABLE_UPSTREAM_PORT", "1"),
            ("SPIN_MAX_INSTANCE_MEMORY", "268435456"),
        ],
    );
    let addr = up.addr;
    let busy: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || get(addr, "/busy?ms=3000")))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(get(addr, "/requests").0, 200);
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "a request took {:?} beside busy guests",
            started.elapsed()
        );
    }
    for guest in busy {
        assert_eq!(guest.join().unwrap(), (200, "busy 3000 ms".into()));
    }

    assert_eq!(get(addr, "/grow?mb=16"), (200, "grew 16 MiB".into()));
    assert_eq!(get(addr, "/grow?mb=300").0, 500);
    assert_eq!(get(addr, "/requests").0, 200);
}

/// `n` requests of `/requests` at once: each answer's status and body.
fn requests_at_once(addr: SocketAddr, n: usize) -> Vec<(u16, String)> {
    block_on(async {
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..n {
            requests.spawn(async move {
                let res = client()
                    .get(format!("http://{addr}/requests"))
                    .send()
                    .await
                    .unwrap();
                (res.status().as_u16(), res.text().await.unwrap())
            });
        }
        requests.join_all().await
    })
}

/// Each `/requests` answer is how many requests the instance that served it has served.
fn served(addr: SocketAddr, requests: usize) -> Vec<u32> {
    (0..requests)
        .map(|_| {
            let (status, body) = get(addr, "/requests");
            assert_eq!(status, 200, "{body}");
            body.parse().unwrap()
        })
        .collect()
}

/// As in Spin, an instance of a 0.3 component serves up to `SPIN_MAX_INSTANCE_REUSE_COUNT`
/// requests (128 by default) and is then dropped; a count of 1 gives every request, one at a
/// time or 16 at once, a fresh instance (no state of one is visible to another).
#[test]
fn spin_sdk_7_instances_are_reused_as_far_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let up = start_with(
        dir.path(),
        &[
            ("SPIN_VARIABLE_UPSTREAM_PORT", "1"),
            ("SPIN_MAX_INSTANCE_REUSE_COUNT", "3"),
        ],
    );
    let counts = served(up.addr, 12);
    assert!(counts.iter().all(|n| (1..=3).contains(n)), "{counts:?}");
    assert!(counts.contains(&3), "no instance served 3: {counts:?}");
    drop(up);

    let up = start_with(
        dir.path(),
        &[
            ("SPIN_VARIABLE_UPSTREAM_PORT", "1"),
            ("SPIN_MAX_INSTANCE_REUSE_COUNT", "1"),
        ],
    );
    let addr = up.addr;
    assert_eq!(served(addr, 5), [1; 5]);
    let answers = requests_at_once(addr, 16);
    assert!(
        answers.iter().all(|a| *a == (200, "1".to_string())),
        "{answers:?}"
    );
    drop(up);

    let err = Up::try_start(
        apps::manifest_dir("sdk7"),
        &["--no-cache"],
        &[("SPIN_MAX_INSTANCE_REUSE_COUNT", "0")],
        &dir.path().join("bad.log"),
    )
    .err()
    .expect("refused");
    assert!(err.contains("SPIN_MAX_INSTANCE_REUSE_COUNT=0"), "{err}");
}

/// SIGTERM lets a 0.3 guest's request in flight finish, then the process exits 0.
#[test]
fn sigterm_lets_a_spin_sdk_7_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = start(dir.path(), 1);
    let addr = up.addr;
    let in_flight = std::thread::spawn(move || get(addr, "/busy?ms=1500"));
    std::thread::sleep(Duration::from_millis(400));
    let status = up.terminate();
    assert!(status.success(), "exited with {status}");
    assert_eq!(in_flight.join().unwrap(), (200, "busy 1500 ms".into()));
}

/// Every Spin interface spin-sdk 7 imports, through its async functions: variables@3,
/// key-value@3 (keys as a stream), sqlite@3.1 (rows as a stream), redis@3, mqtt@3 (a
/// subscriber of Debian's mosquitto gets the message), postgres@4.2 and mysql@3 (Debian's
/// PostgreSQL and MariaDB).
#[test]
fn a_spin_sdk_7_app_uses_spins_async_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let redis = services::redis();
    let broker = services::mqtt();
    let pg = services::postgres("spinrt", &[]);
    let my = services::mariadb("spinrt");
    let ports = [redis.port, broker.port, pg.port, my.port].map(|p| p.to_string());
    let up = start_with(
        dir.path(),
        &[
            ("SPIN_VARIABLE_REDIS_PORT", ports[0].as_str()),
            ("SPIN_VARIABLE_MQTT_PORT", ports[1].as_str()),
            ("SPIN_VARIABLE_PG_PORT", ports[2].as_str()),
            ("SPIN_VARIABLE_MYSQL_PORT", ports[3].as_str()),
        ],
    );
    let addr = up.addr;

    assert_eq!(
        get(addr, "/variable/greeting"),
        (200, "hello from variables@3".into())
    );
    let (status, body) = get(addr, "/variable/nope");
    assert_eq!(status, 500);
    assert!(body.contains("Undefined"), "{body}");

    assert_eq!(request(addr, "PUT", "/kv/k1", "v1"), (200, "stored".into()));
    assert_eq!(request(addr, "PUT", "/kv/k2", "v2"), (200, "stored".into()));
    assert_eq!(get(addr, "/kv/k1"), (200, "v1".into()));
    assert_eq!(get(addr, "/kv"), (200, "k1,k2".into()));
    assert_eq!(
        request(addr, "DELETE", "/kv/k2", ""),
        (200, "deleted, exists=false".into())
    );
    assert_eq!(get(addr, "/kv/k2").0, 404);
    assert_eq!(
        get(addr, "/kv/other/k1"),
        (500, "Error::AccessDenied".into())
    );

    assert_eq!(
        request(addr, "POST", "/sqlite", "a"),
        (200, "rowid=1 changes=1 notes=a".into())
    );
    assert_eq!(
        request(addr, "POST", "/sqlite", "b"),
        (200, "rowid=2 changes=1 notes=a,b".into())
    );

    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    assert_eq!(
        request(addr, "POST", &format!("/redis?{redis_url}"), "x"),
        (200, "x,1,x,echoed".into())
    );
    assert_eq!(
        request(addr, "POST", &format!("/redis?{redis_url}"), "y"),
        (200, "y,2,x+y,echoed".into())
    );
    let (status, body) = request(addr, "POST", "/redis?redis://127.0.0.1:1", "x");
    assert_eq!(status, 500);
    assert!(body.contains("InvalidAddress"), "{body}");

    let path = format!(
        "/mqtt?mqtt://127.0.0.1:{}?client_id=spinrt-sdk7",
        broker.port
    );
    let (topic, payload, answer) =
        services::first_message_after(broker.port, "spinrt/sdk7", move || {
            request(addr, "POST", &path, "hello p3")
        });
    assert_eq!(answer, (200, "published".into()));
    assert_eq!(
        (topic.as_str(), payload),
        ("spinrt/sdk7", b"hello p3".to_vec())
    );

    let pg_url = format!("postgres://postgres:postgres@127.0.0.1:{}/spinrt", pg.port);
    assert_eq!(
        request(addr, "POST", &format!("/pg?{pg_url}"), "rex"),
        (200, "inserted=1 1:rex".into())
    );
    assert_eq!(
        request(addr, "POST", &format!("/pg?{pg_url}"), "bo"),
        (200, "inserted=1 1:rex,2:bo".into())
    );
    let (status, body) = request(addr, "POST", "/pg?postgres://127.0.0.1:1/x", "x");
    assert_eq!(status, 500);
    assert!(body.contains("is not permitted"), "{body}");

    let my_url = format!("mysql://spin:spin@127.0.0.1:{}/spinrt", my.port);
    assert_eq!(
        request(addr, "POST", &format!("/mysql?{my_url}"), "rex"),
        (200, "1:rex".into())
    );
    assert_eq!(
        request(addr, "POST", &format!("/mysql?{my_url}"), "bo"),
        (200, "1:rex,2:bo".into())
    );
}

/// The echo app built on spin-sdk 3 (WASI 0.2) and on spin-sdk 7 (WASI 0.3) answers the same
/// request the same way: both see the same `spin-*` headers, method and body.
#[test]
fn the_echo_app_answers_alike_on_wasi_0_2_and_0_3() {
    let dir = tempfile::tempdir().unwrap();
    let answers: Vec<String> = ["echo", "echo7"]
        .iter()
        .map(|app| {
            let up = Up::start(
                apps::manifest_dir(app),
                &["--no-cache"],
                &dir.path().join(format!("{app}.log")),
            );
            let (status, body) = request(up.addr, "POST", "/a/b?x=1", "hi there");
            assert_eq!(status, 200, "{app}: {body}");
            // The only differences allowed: where each server listened, the client port, and
            // how the method is printed (spin-sdk 3's enum `Method::Post`, http's `POST`).
            let method = body.lines().find(|l| l.starts_with("method: "));
            assert!(
                method.is_some_and(|m| m.to_lowercase().ends_with("post")),
                "{app}: {body}"
            );
            body.replace(&up.addr.to_string(), "ADDR")
                .lines()
                .filter(|l| !l.starts_with("spin-client-addr") && !l.starts_with("method: "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert!(
        answers[0].contains("spin-full-url: http://ADDR/a/b?x=1"),
        "{}",
        answers[0]
    );
    assert!(answers[0].contains("body: hi there"), "{}", answers[0]);
    assert_eq!(answers[0], answers[1]);
}
