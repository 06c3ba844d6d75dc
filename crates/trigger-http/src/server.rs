use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use spinrt_app::HttpExecutor;
use spinrt_app::routes::{Router, WELL_KNOWN_PREFIX};
use spinrt_engine::LoadedApp;
use spinrt_engine::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use spinrt_telemetry::traces::{self, TraceContext};
use tokio::net::TcpListener;

use crate::executor::{Executor, RequestContext};
use crate::reuse::InstanceReuse;
use crate::{body, headers};

/// Serves one loaded app over HTTP.
/// How long a stopping server waits for the guests' queued output to reach the log.
const OUTPUT_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

pub struct HttpServer {
    app: Arc<LoadedApp>,
    router: Router,
    executors: HashMap<String, Executor>,
}

/// How [`HttpServer::serve`] treats slow clients and winds down.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// After shutdown is asked for, how long in-flight requests may take to finish.
    pub grace_period: Duration,
    /// How long an HTTP/1 connection may take to send a request's headers, counted from the
    /// end of the previous response on a kept-alive one. A client that never finishes its
    /// headers would otherwise hold a connection, and a file descriptor, for ever.
    pub header_read_timeout: Duration,
    /// How WASI 0.3 components' instances are reused (Spin's defaults).
    pub reuse: InstanceReuse,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            reuse: InstanceReuse::default(),
        }
    }
}

impl HttpServer {
    /// Builds the route table and one executor per routed component; WASI 0.3 components'
    /// instances are reused as `reuse` says.
    pub fn new(app: Arc<LoadedApp>, reuse: InstanceReuse) -> anyhow::Result<Self> {
        let router = Router::build(&app.app().http_triggers)?;
        let mut executors = HashMap::new();
        let mut executor_of: HashMap<&str, &HttpExecutor> = HashMap::new();
        for trigger in &app.app().http_triggers {
            if let Some(first) = executor_of.insert(&trigger.component, &trigger.executor) {
                anyhow::ensure!(
                    first == &trigger.executor,
                    "component '{}' is routed with two different executors",
                    trigger.component
                );
                continue;
            }
            if let HttpExecutor::Wagi(_) = trigger.executor {
                log::warn!(
                    "HTTP trigger '{}' uses the WAGI executor, which Spin will deprecate",
                    trigger.id
                );
            }
            let component = app.component(&trigger.component).ok_or_else(|| {
                anyhow::anyhow!("component '{}' was not loaded", trigger.component)
            })?;
            let executor = Executor::for_component(&app, component, &trigger.executor, reuse)
                .map_err(anyhow::Error::msg)?;
            executors.insert(trigger.component.clone(), executor);
        }
        Ok(Self {
            app,
            router,
            executors,
        })
    }

    /// `(route, component)` pairs, most specific first.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.router
            .routes()
            .map(|(r, c)| (r.to_string(), c.to_string()))
            .collect()
    }

    /// Binds `addr`, logs the routes it serves there, and serves until `shutdown`.
    pub async fn bind_and_serve(
        self: Arc<Self>,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()>,
        options: ServeOptions,
    ) -> anyhow::Result<()> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        self.announce_and_serve(listener, shutdown, options).await
    }

    /// Logs the routes it serves on `listener` (already bound), and serves until `shutdown`.
    pub async fn announce_and_serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        options: ServeOptions,
    ) -> anyhow::Result<()> {
        let local = listener.local_addr()?;
        log::info!("serving app '{}' on http://{local}", self.app.app().name);
        for (route, component) in self.routes() {
            log::info!("  http://{local}{route} -> {component}");
        }
        self.serve(listener, shutdown, options).await?;
        Ok(())
    }

    /// Accepts connections until `shutdown` resolves, then stops accepting and gives in-flight
    /// requests `grace_period` to finish.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        options: ServeOptions,
    ) -> std::io::Result<()> {
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // hyper applies a header read timeout only with a timer.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout);
        tokio::pin!(shutdown);
        loop {
            let (stream, client_addr) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        log::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(server.handle(req, client_addr).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn.into_owned());
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    log::debug!("connection from {client_addr}: {e}");
                }
            });
        }
        drop(listener);
        log::info!(
            "shutting down: waiting up to {:?} for in-flight requests",
            options.grace_period
        );
        tokio::select! {
            () = graceful.shutdown() => log::info!("all connections closed"),
            () = tokio::time::sleep(options.grace_period) => {
                log::warn!("grace period over: closing the remaining connections");
            }
        }
        // What the guests wrote last is still queued for the log (see engine::host::output).
        let app = self.app.clone();
        let _ = tokio::task::spawn_blocking(move || app.flush_output(OUTPUT_FLUSH_TIMEOUT)).await;
        Ok(())
    }

    /// Answers one request: Spin's well-known endpoints, a routed component, or 404; counted
    /// in the metrics and traced when those are on.
    pub async fn handle<B>(
        &self,
        req: Request<B>,
        client_addr: SocketAddr,
    ) -> Response<HyperOutgoingBody>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<spinrt_engine::wasmtime_wasi_http::Error>,
    {
        let mut routed = None;
        let metrics = spinrt_telemetry::metrics::get();
        // Probes of the well-known endpoints are counted, not traced.
        let span = match req.uri().path() {
            path if path.starts_with(WELL_KNOWN_PREFIX) => None,
            path => traces::server_span(req.headers(), req.method(), path),
        };
        if metrics.is_none() && span.is_none() {
            return self.respond(req, client_addr, None, &mut routed).await;
        }
        let method = req.method().clone();
        let _active = metrics.map(|m| m.request_started(&method));
        let started = std::time::Instant::now();
        let trace = span.as_ref().map(traces::RequestSpan::trace);
        let response = self
            .respond(req, client_addr, trace.as_ref(), &mut routed)
            .await;
        let status = response.status().as_u16();
        if let Some(metrics) = metrics {
            metrics.request_answered(&method, routed, status, started.elapsed());
        }
        if let Some(span) = span {
            span.finish(routed, status);
        }
        response
    }

    /// [`Self::handle`]'s answer; `routed` gets the route and component a route matched.
    async fn respond<'s, B>(
        &'s self,
        mut req: Request<B>,
        client_addr: SocketAddr,
        trace: Option<&TraceContext>,
        routed: &mut Option<(&'s str, &'s str)>,
    ) -> Response<HyperOutgoingBody>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<spinrt_engine::wasmtime_wasi_http::Error>,
    {
        let path = req.uri().path().to_string();
        if let Some(endpoint) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            return self.well_known(endpoint);
        }
        let Some(route) = self.router.route(&path) else {
            log::debug!("{} {path}: no route", req.method());
            return status(StatusCode::NOT_FOUND);
        };
        let component_id = route.component();
        *routed = Some((route.raw_route(), component_id));
        let (Some(component), Some(executor)) = (
            self.app.component(component_id),
            self.executors.get(component_id),
        ) else {
            log::error!(
                "route {} names component '{component_id}', which is not loaded",
                route.raw_route()
            );
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        };

        let full_url = match full_url(&req) {
            Ok(uri) => uri,
            Err(e) => {
                log::info!("{} {path}: bad request: {e}", req.method());
                return status(StatusCode::BAD_REQUEST);
            }
        };
        let full_url_text = full_url.to_string();
        let result = if let Executor::Wagi(e) = executor {
            // A WAGI command gets Spin's values in its environment, not as headers.
            *req.uri_mut() = full_url;
            let context = RequestContext {
                route: &route,
                full_url: &full_url_text,
                client_addr,
            };
            e.execute(component, req, context, trace).await
        } else {
            headers::apply(req.headers_mut(), &full_url_text, &route, client_addr);
            *req.uri_mut() = full_url;
            match executor {
                Executor::WasiHttp3(e) => e.execute(component, req, trace).await,
                Executor::WasiHttp(e) => e.execute(component, req, trace).await,
                Executor::Spin1(e) => e.execute(component, req, trace).await,
                Executor::Wagi(_) => unreachable!("handled above"),
            }
        }
        .map_err(|e| e.to_string());
        match result {
            Ok(response) => response,
            Err(reason) => {
                log::error!("{path}: {reason}");
                status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn well_known(&self, endpoint: &str) -> Response<HyperOutgoingBody> {
        match endpoint {
            "health" => Response::new(body::full("OK")),
            "info" => {
                let app = self.app.app();
                let info = format!(
                    "{{\"name\":{:?},\"version\":{:?}}}",
                    app.name,
                    app.version.as_deref().unwrap_or("")
                );
                Response::builder()
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body::full(info))
                    .expect("static response parts are valid")
            }
            _ => status(StatusCode::NOT_FOUND),
        }
    }
}

fn status(code: StatusCode) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = code;
    response
}

/// The absolute URL of the request, from its Host header (or `localhost`, as Spin does).
fn full_url<B>(req: &Request<B>) -> Result<Uri, String> {
    if req.uri().scheme().is_some() && req.uri().authority().is_some() {
        return Ok(req.uri().clone());
    }
    let host = req
        .headers()
        .get(http::header::HOST)
        .map(|h| {
            h.to_str()
                .map_err(|_| "Host header is not text".to_string())
        })
        .transpose()?
        .unwrap_or("localhost");
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    Uri::builder()
        .scheme("http")
        .authority(host)
        .path_and_query(path)
        .build()
        .map_err(|e| format!("cannot form a URL from Host '{host}': {e}"))
}

/// A future that resolves on SIGTERM (containerd, kubelet) or SIGINT (Ctrl-C). The handlers
/// are installed when this returns, not when the future is first polled, so a caller that
/// blocked the signals may unblock them right after.
///
/// In a task we are PID 1 of a PID namespace, where a signal without a handler is ignored:
/// SIGTERM only stops the task because it is handled here.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => log::info!("SIGTERM: finishing in-flight requests"),
            _ = int.recv() => log::info!("SIGINT: finishing in-flight requests"),
        }
    })
}
