//! What runs inside a task: load the app from the image, serve it until SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source, WasmLayer};
use spinrt_app::App;
use spinrt_engine::{Engine, EngineConfig, HostConfig, LoadedApp, RuntimeConfig};
use spinrt_trigger_http::{HttpServer, ServeOptions, shutdown_signal};

use crate::task_env::TaskEnv;

/// Where the app's unpacked layers and runtime files go, inside the task's root filesystem.
const WORK_DIR: &str = "/.spin";
/// A runtime config the image may carry, where the Spin shim looks for it.
const RUNTIME_CONFIG: &str = "/runtime-config.toml";
/// How long in-flight requests get after SIGTERM (Kubernetes' default grace is 30 s).
const GRACE_ENV: &str = "SPIN_SHUTDOWN_GRACE_SECONDS";

#[derive(Default)]
pub struct SpinSandbox;

impl Sandbox for SpinSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        match serve(ctx).await {
            Ok(()) => Ok(0),
            Err(e) => {
                // The task's stderr is what `ctr run` and `kubectl logs` show.
                eprintln!("containerd-shim-spin-v2: {e:#}");
                log::error!("task failed: {e:#}");
                Err(e)
            }
        }
    }

    /// Wasm layers are ours; so is a plain image with a `spin.toml` where the command points
    /// (e.g. `command: ["/"]`). Anything else runs as an ordinary Linux container (the pod's
    /// pause container, sidecars).
    async fn can_handle(&self, ctx: &impl RuntimeContext) -> Result<()> {
        match ctx.entrypoint().source {
            Source::Oci(_) => Ok(()),
            Source::File(path) => manifest_in(&path).map(|_| ()),
        }
    }
}

async fn serve(ctx: &impl RuntimeContext) -> Result<()> {
    let env = TaskEnv::parse(ctx.envs());
    let work_dir = work_dir()?;
    let app = match ctx.entrypoint().source {
        Source::Oci(layers) => app_from_layers(layers, &work_dir.join("app"))?,
        Source::File(path) => spinrt_app::manifest::load(&manifest_in(&path)?)?,
    };
    let config = EngineConfig {
        // Tasks do not share a filesystem with the host; runwasi's content store is the
        // cross-task cache.
        cache_dir: None,
        ..EngineConfig::from_lookup(|k| env.get(k))?
    };
    let addr =
        spinrt_trigger_http::listen_addr(None, |k| env.get(k)).map_err(anyhow::Error::msg)?;
    let grace = env
        .get(GRACE_ENV)
        .map(|s| {
            s.parse()
                .with_context(|| format!("{GRACE_ENV}={s} is not a number of seconds"))
        })
        .transpose()?
        .unwrap_or(30);

    let engine = Engine::new(&config)?;
    let runtime_config = Path::new(RUNTIME_CONFIG);
    let host = HostConfig {
        state_dir: Some(work_dir.join("state")),
        runtime_config: if runtime_config.is_file() {
            RuntimeConfig::from_file(runtime_config)?
        } else {
            RuntimeConfig::default()
        },
        env: env.iter().collect(),
    };
    let loaded = LoadedApp::load(&engine, app, host)?;
    let options = ServeOptions {
        grace_period: Duration::from_secs(grace),
        ..ServeOptions::default()
    };
    Arc::new(HttpServer::new(Arc::new(loaded))?)
        .bind_and_serve(addr, shutdown_signal(), options)
        .await?;
    Ok(())
}

fn app_from_layers(layers: &[WasmLayer], dir: &Path) -> Result<App> {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| spinrt_oci::Layer {
            media_type: l.config.media_type().as_ref(),
            digest: l.config.digest().as_ref(),
            bytes: &l.layer,
            precompiled: l.precompiled,
        })
        .collect();
    Ok(spinrt_oci::read_layers(&layers, dir)?)
}

/// The Spin manifest the command names: `spin.toml` in a directory (`command: ["/"]`), or a
/// `.toml` file. Any other command (the pod's pause binary, a sidecar's shell) is not a Spin
/// app, so runwasi runs it as an ordinary Linux container.
fn manifest_in(path: &Path) -> Result<PathBuf> {
    let path = if path.as_os_str().is_empty() {
        Path::new("/")
    } else {
        path
    };
    let manifest = if path.is_dir() {
        path.join(spinrt_app::manifest::MANIFEST_FILE)
    } else if path.extension().is_some_and(|e| e == "toml") {
        path.to_path_buf()
    } else {
        bail!(
            "no Spin app: {} is not a directory or a .toml file",
            path.display()
        )
    };
    if !manifest.is_file() {
        bail!("no Spin app: {} does not exist", manifest.display());
    }
    Ok(manifest)
}

/// A writable directory for the app: in the task's rootfs, else the temp dir (read-only root).
fn work_dir() -> Result<PathBuf> {
    for dir in [PathBuf::from(WORK_DIR), std::env::temp_dir().join("spin")] {
        if std::fs::create_dir_all(&dir).is_ok() {
            return Ok(dir);
        }
    }
    bail!("no writable directory for the app ({WORK_DIR} or the temp dir)")
}
