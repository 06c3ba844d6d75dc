//! Loopback helpers.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A port that is free on 127.0.0.1 right now, and never handed out before by this process.
/// The kernel may give a port it just gave again once its listener closed; tests running at
/// once in one process then started two servers (a Spin app, a database) on the same port, and
/// the one that lost the race had its requests answered by the other.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding an ephemeral port on loopback");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// Waits until something accepts TCP connections on `addr`, at most `timeout`.
pub fn wait_for_listener(addr: SocketAddr, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        // A connection to a loopback port of the ephemeral range that nothing listens on can
        // succeed with itself (TCP simultaneous open, when the kernel picks that very port as
        // the source); that is not a listener.
        if let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            && stream.local_addr().ok() != Some(addr)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// An HTTP client for tests: no proxy from the environment, short timeouts.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building an HTTP client")
}

/// A GET from a synchronous test: `(status, body)`.
pub fn blocking_get(addr: SocketAddr, path: &str) -> (u16, String) {
    blocking_request(addr, "GET", path, "")
}

/// Runs `future` to completion from a synchronous test.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A request from a synchronous test: `(status, body)`.
pub fn blocking_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    block_on(async {
        let res = client()
            .request(method.parse().unwrap(), format!("http://{addr}{path}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    })
}

/// How [`blocking_raw_post`] frames its body.
#[derive(Clone, Copy, Debug)]
pub enum Framing {
    ContentLength,
    Chunked,
}

/// A POST written raw on the socket, so the server sees the body as it comes: `(status,
/// body)`. A server may answer and close before it has read the whole body (413); a client
/// library reports the broken pipe, this reads the answer all the same.
pub fn blocking_raw_post(
    addr: SocketAddr,
    path: &str,
    body: &str,
    framing: Framing,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let length = match framing {
        Framing::ContentLength => format!("Content-Length: {}", body.len()),
        Framing::Chunked => "Transfer-Encoding: chunked".to_string(),
    };
    let head =
        format!("POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{length}\r\n\r\n");
    let mut sent = stream.write_all(head.as_bytes());
    for chunk in body.as_bytes().chunks(64 << 10) {
        if sent.is_err() {
            break;
        }
        sent = match framing {
            Framing::ContentLength => stream.write_all(chunk),
            Framing::Chunked => stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| stream.write_all(chunk))
                .and_then(|()| stream.write_all(b"\r\n")),
        };
    }
    if sent.is_ok() && matches!(framing, Framing::Chunked) {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let mut response = Vec::new();
    let mut buf = [0; 8192];
    // A reset after the answer ends the read as the end of the stream would.
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        response.extend_from_slice(&buf[..n]);
    }
    parse_response(&response)
}

/// `(status, body)` of an HTTP/1.1 response read raw from a socket (a `Content-Length` body).
pub fn parse_response(raw: &[u8]) -> (u16, String) {
    let response = String::from_utf8_lossy(raw);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Requests `GET /` to each address in turn from a thread, one every 20 ms, until stopped (at
/// most `limit`, so a test that panics elsewhere never leaves it looping): what a client of a
/// pod sees while the node does something to it.
pub struct Prober {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<ProbeReport>,
}

/// What a [`Prober`] saw: how many requests were answered 200, and every other outcome.
#[derive(Debug)]
pub struct ProbeReport {
    pub answered: usize,
    pub failures: Vec<String>,
}

impl Prober {
    pub fn start(addrs: Vec<SocketAddr>, limit: Duration) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut report = ProbeReport {
                answered: 0,
                failures: Vec::new(),
            };
            let start = Instant::now();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) && start.elapsed() < limit {
                for addr in &addrs {
                    match raw_get(*addr) {
                        Ok(200) => report.answered += 1,
                        Ok(status) => report.failures.push(format!("{addr}: status {status}")),
                        Err(e) => report.failures.push(format!("{addr}: {e}")),
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            report
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> ProbeReport {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the prober panicked")
    }
}

/// The status of `GET /` on a connection of its own, within 5 s.
fn raw_get(addr: SocketAddr) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let timeout = Duration::from_secs(5);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"GET / HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    String::from_utf8_lossy(&response)
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {} bytes", response.len())))
}
