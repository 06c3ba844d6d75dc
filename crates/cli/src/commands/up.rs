use std::path::PathBuf;
use std::sync::Arc;

use spinrt_engine::{Engine, EngineConfig, LoadedApp};
use spinrt_trigger_http::{HttpServer, ServeOptions, shutdown_signal};

/// Serve a Spin app's HTTP trigger, like `spin up`.
#[derive(clap::Args)]
pub struct UpCommand {
    /// The app: a spin.toml, or a directory holding one.
    #[arg(short = 'f', long = "from", default_value = ".")]
    from: PathBuf,
    /// Address to listen on [default: $SPIN_HTTP_LISTEN_ADDR, else 0.0.0.0:80].
    #[arg(long)]
    listen: Option<String>,
    /// Where compiled components are cached [default: ~/.cache/spinrt/precompiled].
    #[arg(long, env = "SPIN_PRECOMPILE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time; do not read or write the precompile cache.
    #[arg(long)]
    no_cache: bool,
    /// Where the app keeps its runtime files [default: .spinrt next to spin.toml].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = 10)]
    grace_period: u64,
}

impl UpCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let manifest = spinrt_app::manifest::manifest_path(&self.from)?;
        let app = spinrt_app::manifest::load(&manifest)?;
        let state_dir = match self.state_dir {
            Some(dir) => dir,
            None => manifest
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(".spinrt"),
        };
        let mut config = EngineConfig::from_env()?;
        if let Some(dir) = self.cache_dir {
            config.cache_dir = Some(dir);
        }
        if self.no_cache {
            config.cache_dir = None;
        }
        let addr =
            spinrt_trigger_http::listen_addr(self.listen.as_deref(), |k| std::env::var(k).ok())
                .map_err(anyhow::Error::msg)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let engine = Engine::new(&config)?;
            let loaded = LoadedApp::load(&engine, app, Some(state_dir))?;
            let options = ServeOptions {
                grace_period: std::time::Duration::from_secs(self.grace_period),
            };
            Arc::new(HttpServer::new(Arc::new(loaded))?)
                .bind_and_serve(addr, shutdown_signal(), options)
                .await?;
            anyhow::Ok(())
        })
    }
}
