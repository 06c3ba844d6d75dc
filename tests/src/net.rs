//! Loopback helpers.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A port that is free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port on loopback")
}

/// Waits until something accepts TCP connections on `addr`, at most `timeout`.
pub fn wait_for_listener(addr: SocketAddr, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
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
