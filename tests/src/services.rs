//! Services the host-interface tests talk to, all on 127.0.0.1 and a free port, stopped on drop:
//! an HTTP echo and a TCP echo (in-process, on a thread of their own), and Debian's
//! `redis-server`, `mosquitto`, PostgreSQL 15 and MariaDB in temp directories, and moto's SQS
//! server (from PyPI, installed by `scripts/setup.sh` in `.tools/moto`).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::net::{free_port, wait_for_listener};

/// A running service: its port, and what to stop when it is dropped.
pub struct Service {
    pub port: u16,
    child: Option<Child>,
    /// What stops `child` fast and cleanly: SIGINT for most (PostgreSQL's "fast" mode);
    /// mariadbd shuts down on SIGTERM only.
    stop_signal: &'static str,
    _runtime: Option<tokio::runtime::Runtime>,
    _dir: Option<tempfile::TempDir>,
}

impl Service {
    /// A service that is a process of its own, with its files in `dir`.
    fn process(port: u16, child: Child, stop_signal: &'static str, dir: tempfile::TempDir) -> Self {
        Self {
            port,
            child: Some(child),
            stop_signal,
            _runtime: None,
            _dir: Some(dir),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = Command::new("kill")
                .args([self.stop_signal, &child.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn await_port(port: u16, what: &str, log: &Path) {
    assert!(
        wait_for_listener(addr(port), Duration::from_secs(30)),
        "{what} never listened on {port}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn spawn_in(dir: &Path, mut cmd: Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("service.log")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"))
}

/// A one-thread runtime for an in-process server, and a listener on a free loopback port.
pub(crate) fn runtime_and_listener() -> (tokio::runtime::Runtime, tokio::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    (runtime, listener)
}

/// Answers every request with the body it got (what the conformance suite's `http-echo` does).
pub fn http_echo() -> Service {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;

    let (runtime, listener) = runtime_and_listener();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let body = req.into_body().collect().await?.to_bytes();
                    Ok::<_, hyper::Error>(hyper::Response::new(Full::new(body)))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Service {
        port,
        child: None,
        stop_signal: "-INT",
        _runtime: Some(runtime),
        _dir: None,
    }
}

/// Echoes the bytes of every TCP connection back.
pub fn tcp_echo() -> Service {
    let (runtime, listener) = runtime_and_listener();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    Service {
        port,
        child: None,
        stop_signal: "-INT",
        _runtime: Some(runtime),
        _dir: None,
    }
}

/// `redis-cli -p PORT ARGS...` against a [`redis`] server: its answer, trimmed.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("running redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn redis() -> Service {
    redis_on(free_port())
}

/// redis-server on `port` (to bring one back where a client knew it).
pub fn redis_on(port: u16) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ])
    .args(["--appendonly", "no", "--dir"])
    .arg(dir.path());
    let child = spawn_in(dir.path(), cmd);
    await_port(port, "redis-server", &dir.path().join("service.log"));
    Service::process(port, child, "-INT", dir)
}

/// Mosquitto with anonymous access, as the conformance suite's `mqtt` precondition wants.
pub fn mqtt() -> Service {
    mqtt_on(free_port())
}

/// Mosquitto on `port` (to bring one back where a client knew it).
pub fn mqtt_on(port: u16) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let mut cmd = Command::new("/usr/sbin/mosquitto");
    cmd.arg("-c").arg(&config);
    let child = spawn_in(dir.path(), cmd);
    await_port(port, "mosquitto", &dir.path().join("service.log"));
    Service::process(port, child, "-INT", dir)
}

/// Subscribes to `topic` on the MQTT broker at `port`, then runs `publish` (which makes
/// something publish there): the first message's topic and payload, and what `publish`
/// returned. Panics after 30 s without a message.
pub fn first_message_after<R: Send + 'static>(
    port: u16,
    topic: &str,
    publish: impl FnOnce() -> R + Send + 'static,
) -> (String, Vec<u8>, R) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut options = MqttOptions::new(format!("spinrt-test-{port}"), "127.0.0.1", port);
        options.set_keep_alive(std::time::Duration::from_secs(30));
        let (client, mut events) = AsyncClient::new(options, 10);
        client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
        let wait = async {
            loop {
                if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
                    break;
                }
            }
            let published = tokio::task::spawn_blocking(publish);
            loop {
                if let Event::Incoming(Packet::Publish(p)) = events.poll().await.unwrap() {
                    break (p.topic, p.payload.to_vec(), published.await.unwrap());
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), wait)
            .await
            .expect("no message reached the subscriber")
    })
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// PostgreSQL 15 with user/password `postgres`/`postgres` and a database `database`, loaded
/// with each SQL file of `init` (in name order). It runs as the `postgres` system user (it
/// refuses root; `setpriv` execs, so the child is postgres itself), in its own temp cluster.
pub fn postgres(database: &str, init: &[std::path::PathBuf]) -> Service {
    let dir = tempfile::Builder::new()
        .prefix("pg")
        .tempdir_in("/tmp")
        .unwrap();
    let data = dir.path().join("data");
    let as_postgres = |program: &str| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(format!("{PG_BIN}/{program}"));
        cmd
    };
    let chown = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "postgres\n").unwrap();
    let out = as_postgres("initdb")
        .args(["-U", "postgres", "-A", "md5", "--pwfile"])
        .arg(&pw)
        .arg("-D")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let mut cmd = as_postgres("postgres");
    cmd.arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=localhost",
            "-k",
        ])
        .arg(dir.path());
    let child = spawn_in(dir.path(), cmd);
    await_port(port, "postgres", &dir.path().join("service.log"));
    // Listening is not ready: until recovery ends it answers "the database system is
    // starting up".
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !Command::new(format!("{PG_BIN}/pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "postgres never became ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let psql = |args: &[&str], stdin: Option<&Path>| {
        let mut cmd = Command::new(format!("{PG_BIN}/psql"));
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-v",
        ])
        .arg("ON_ERROR_STOP=1")
        .args(args)
        .env("PGPASSWORD", "postgres");
        if let Some(file) = stdin {
            cmd.arg("-f").arg(file);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "psql {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&["-c", &format!("CREATE DATABASE {database}")], None);
    for file in init {
        psql(&["-d", database], Some(file));
    }
    Service::process(port, child, "-INT", dir)
}

/// MariaDB with a database `database` that user `spin` (password `spin`) may use from
/// 127.0.0.1, in its own temp data directory.
pub fn mariadb(database: &str) -> Service {
    let dir = tempfile::Builder::new()
        .prefix("my")
        .tempdir_in("/tmp")
        .unwrap();
    let data = dir.path().join("data");
    let out = Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--skip-test-db"])
        .arg("--auth-root-authentication-method=normal")
        .arg(format!("--datadir={}", data.display()))
        .output()
        .expect("mariadb-install-db (apt-get install mariadb-server)");
    assert!(
        out.status.success(),
        "mariadb-install-db: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let socket = dir.path().join("sock");
    let mut cmd = Command::new("mariadbd");
    cmd.args(["--no-defaults", "--user=root", "--skip-log-bin"])
        .args(["--bind-address=127.0.0.1", &format!("--port={port}")])
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--pid-file={}", dir.path().join("pid").display()));
    let child = spawn_in(dir.path(), cmd);
    await_port(port, "mariadbd", &dir.path().join("service.log"));
    let sql = format!(
        "CREATE DATABASE {database}; CREATE USER 'spin'@'%' IDENTIFIED BY 'spin'; \
         GRANT ALL ON {database}.* TO 'spin'@'%';"
    );
    let out = Command::new("mariadb")
        .args(["--no-defaults", "-uroot"])
        .arg(format!("--socket={}", socket.display()))
        .args(["-e", &sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Service::process(port, child, "-TERM", dir)
}

/// Publishes `payload` on `topic` to the MQTT broker at `port` (QoS 1, acknowledged).
pub fn mqtt_publish(port: u16, topic: &str, payload: &str) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let options = MqttOptions::new(format!("spinrt-test-pub-{port}"), "127.0.0.1", port);
        let (client, mut events) = AsyncClient::new(options, 10);
        client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .await
            .unwrap();
        let acked = async {
            loop {
                match events.poll().await.unwrap() {
                    Event::Incoming(Packet::PubAck(_)) => break,
                    Event::Outgoing(Outgoing::Disconnect) => panic!("disconnected"),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), acked)
            .await
            .expect("the broker never acknowledged the message");
    });
}

/// moto's server (an SQS-compatible endpoint, `scripts/setup.sh` installs it in `.tools/moto`).
/// It takes any credentials; queues live at `http://127.0.0.1:PORT/123456789012/NAME`.
pub fn sqs() -> Service {
    let moto = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/moto/bin/moto_server");
    assert!(
        moto.exists(),
        "{} is missing: run `make setup` (scripts/setup.sh installs it)",
        moto.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(moto);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let child = spawn_in(dir.path(), cmd);
    await_port(port, "moto_server", &dir.path().join("service.log"));
    Service::process(port, child, "-INT", dir)
}

/// One call of the SQS JSON protocol (`action` as in `AmazonSQS.CreateQueue`) on the server at
/// `port`; panics unless it answers 200. moto checks that a request is signed, not the
/// signature.
pub fn sqs_call(port: u16, action: &str, request: serde_json::Value) -> serde_json::Value {
    crate::net::block_on(async {
        let res = crate::net::client()
            .post(format!("http://127.0.0.1:{port}/"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("X-Amz-Target", format!("AmazonSQS.{action}"))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .body(request.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("SQS {action}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "SQS {action}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("SQS {action}: {e}: {text}"))
    })
}

/// Debian's Prometheus scraping `http://127.0.0.1:TARGET/metrics` every second, its own data in
/// a temp directory; `port` is its HTTP API's.
pub fn prometheus(target: u16) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
             - job_name: spin\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let mut cmd = Command::new("/usr/bin/prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let child = spawn_in(dir.path(), cmd);
    await_port(port, "prometheus", &dir.path().join("service.log"));
    Service::process(port, child, "-TERM", dir)
}

/// An instant PromQL query against the Prometheus at `port`: each series' labels and value.
pub fn prometheus_query(
    port: u16,
    query: &str,
) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
    crate::net::block_on(async {
        let res = crate::net::client()
            .get(format!("http://127.0.0.1:{port}/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("prometheus {query}: {e}"));
        let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert_eq!(body["status"], "success", "{query}: {body}");
        body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| {
                let labels = series["metric"].as_object().unwrap().clone();
                let value = series["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    })
}
