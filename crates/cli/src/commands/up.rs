use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use spinrt_app::App;
use spinrt_engine::{Engine, EngineConfig, HostConfig, LoadedApp, RuntimeConfig};
use spinrt_trigger_http::{InstanceReuse, ServeOptions, reuse, shutdown_signal};
use spinrt_triggers::HttpListen;

use super::registry::RegistryArgs;

/// Run a Spin app's triggers (HTTP, Redis), like `spin up`.
#[derive(clap::Args)]
pub struct UpCommand {
    /// The app: a spin.toml, a directory holding one, or an image reference
    /// (`registry/name:tag`) to pull.
    #[arg(short = 'f', long = "from", default_value = ".")]
    from: String,
    /// Address to listen on [default: $SPIN_HTTP_LISTEN_ADDR, else 0.0.0.0:80].
    #[arg(long)]
    listen: Option<String>,
    /// Where compiled components are cached [default: ~/.cache/spinrt/precompiled].
    #[arg(long, env = "SPIN_PRECOMPILE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time; do not read or write the precompile cache.
    #[arg(long)]
    no_cache: bool,
    /// Where the app keeps its runtime files [default: .spinrt next to spin.toml; for a pulled
    /// image, a temporary directory removed on exit].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Spin's runtime config (key-value stores, SQLite databases, variable providers).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Run only this component and its triggers (repeat for more), as `spin up
    /// --component-id` does; the shim takes the same list from SPIN_COMPONENTS_TO_RETAIN.
    #[arg(short = 'c', long = "component-id")]
    component_ids: Vec<String>,
    /// Serve Prometheus metrics on this address, at /metrics [default: off].
    #[arg(long, env = spinrt_telemetry::METRICS_ADDR_ENV)]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Requests one instance of a WASI 0.3 component serves before it is dropped: a number or
    /// a range `A..B` each instance draws from, as `spin up` takes it [default: 128].
    #[arg(long, env = reuse::MAX_REUSE_ENV)]
    max_instance_reuse_count: Option<String>,
    /// Requests one instance of a WASI 0.3 component serves at once [default: 16].
    #[arg(long, env = reuse::MAX_CONCURRENT_REUSE_ENV)]
    max_instance_concurrent_reuse_count: Option<String>,
    /// How long an idle WASI 0.3 instance waits for another request (`2s`, `500ms`)
    /// [default: 1s].
    #[arg(long, env = reuse::IDLE_TIMEOUT_ENV)]
    idle_instance_timeout: Option<String>,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = 10)]
    grace_period: u64,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Where the app came from; a pulled app's content lives in `_work` until the command ends.
struct Source {
    app: App,
    state_dir: PathBuf,
    _work: Option<tempfile::TempDir>,
}

impl UpCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let mut config = EngineConfig::from_env()?;
        if let Some(dir) = &self.cache_dir {
            config.cache_dir = Some(dir.clone());
        }
        if self.no_cache {
            config.cache_dir = None;
        }
        let addr =
            spinrt_trigger_http::listen_addr(self.listen.as_deref(), |k| std::env::var(k).ok())
                .map_err(anyhow::Error::msg)?;

        let reuse = InstanceReuse::from_lookup(|name| {
            match name {
                reuse::MAX_REUSE_ENV => &self.max_instance_reuse_count,
                reuse::MAX_CONCURRENT_REUSE_ENV => &self.max_instance_concurrent_reuse_count,
                reuse::IDLE_TIMEOUT_ENV => &self.idle_instance_timeout,
                _ => &None,
            }
            .clone()
        })
        .map_err(anyhow::Error::msg)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let code = runtime.block_on(async move {
            // First, so the components' load is measured too.
            if let Some(addr) = self.metrics_addr {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot serve metrics on {addr}"))?;
                spinrt_telemetry::prometheus::spawn(listener);
            }
            spinrt_telemetry::init_otlp().map_err(anyhow::Error::msg)?;
            let mut source = self.source().await?;
            if !self.component_ids.is_empty() {
                source.app.retain_components(&self.component_ids)?;
            }
            let host = HostConfig {
                state_dir: Some(source.state_dir),
                runtime_config: match &self.runtime_config_file {
                    Some(path) => RuntimeConfig::from_file(path)?,
                    None => RuntimeConfig::default(),
                },
                env: provider_env()?,
                output: None,
            };
            let engine = Engine::new(&config)?;
            let loaded = Arc::new(LoadedApp::load(&engine, source.app, host)?);
            let options = ServeOptions {
                grace_period: std::time::Duration::from_secs(self.grace_period),
                reuse,
                ..ServeOptions::default()
            };
            let code = spinrt_triggers::run(
                loaded.clone(),
                HttpListen::Addr(addr),
                shutdown_signal()?,
                options,
            )
            .await?;
            loaded.flush_output(std::time::Duration::from_secs(2));
            anyhow::Ok(code)
        });
        // The last spans and metrics are still batched.
        spinrt_telemetry::shutdown_otlp();
        let code = code?;
        // A command app's exit code is the command's, as for `spin up`.
        if code != 0 {
            std::process::exit(code);
        }
        Ok(())
    }

    /// A path that exists is a manifest or its directory; anything else is pulled, as `spin up`
    /// decides.
    async fn source(&self) -> anyhow::Result<Source> {
        let path = Path::new(&self.from);
        if path.exists() || !looks_like_reference(&self.from) {
            let manifest = spinrt_app::manifest::manifest_path(path)?;
            let app = spinrt_app::manifest::load(&manifest)?;
            let state_dir = self
                .state_dir
                .clone()
                .unwrap_or_else(|| manifest.parent().unwrap_or(Path::new(".")).join(".spinrt"));
            return Ok(Source {
                app,
                state_dir,
                _work: None,
            });
        }
        let image = self.registry.registry().pull(&self.from).await?;
        log::info!(
            "pulled {} ({} layers, manifest {})",
            self.from,
            image.layers.len(),
            image.manifest.digest
        );
        let work = tempfile::Builder::new()
            .prefix("spinrt-app-")
            .tempdir()
            .context("cannot create a directory for the pulled app")?;
        let app = image
            .read_app(work.path())
            .with_context(|| format!("{} is not a Spin app", self.from))?;
        let state_dir = self
            .state_dir
            .clone()
            .unwrap_or_else(|| work.path().join("state"));
        Ok(Source {
            app,
            state_dir,
            _work: Some(work),
        })
    }
}

/// `registry/name:tag` or `name@sha256:...`: a slash or a tag/digest separator, and not a
/// manifest's file name (a missing `spin.toml` is reported as a missing file).
fn looks_like_reference(from: &str) -> bool {
    !from.ends_with(".toml") && (from.contains('/') || from.contains(':') || from.contains('@'))
}

/// The environment variable providers read: the process's, then the entries of a `.env` file in
/// the working directory that the process lacks, as `spin up` reads one.
fn provider_env() -> anyhow::Result<BTreeMap<String, String>> {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    match spinrt_engine::read_dotenv(Path::new(".env")) {
        Ok(entries) => {
            for (key, value) in entries {
                env.entry(key).or_insert(value);
            }
        }
        Err(e) if e.not_found() => {}
        Err(e) => return Err(e).context("reading .env in the working directory"),
    }
    Ok(env)
}
