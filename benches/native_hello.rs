//! A native hyper hello server: the baseline a Wasm server is compared against.
//! `native-hello ADDR` answers every request with "Hello from Spin!\n".

use std::convert::Infallible;

use http_body_util::Full;
use hyper::service::service_fn;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(bytes::Bytes::from_static(
                    b"Hello from Spin!\n",
                ))))
            });
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
}
