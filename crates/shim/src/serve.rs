//! The process that serves one Spin container. The shim daemon starts it
//! (`containerd-shim-spin-v2-server serve-container TASK_FILE`) as PID 1 of a new PID
//! namespace, in the container's cgroup, with the container's stdio. It waits for the task's
//! Start, confines itself (the pod's network namespace, the image's root, no privileges), binds
//! its listener, then unpacks, compiles and serves the app: everything that reads untrusted
//! input happens confined.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use spinrt_app::App;
use spinrt_engine::host::output::GuestOutput;
use spinrt_engine::{Engine, EngineConfig, HostConfig, LoadedApp, RuntimeConfig};
use spinrt_trigger_http::{InstanceReuse, ServeOptions};
use spinrt_triggers::HttpListen;

use crate::server_task::{AppSource, START_FD, ServerTask};
use crate::task_env::TaskEnv;

/// A runtime config the image may carry, where the Spin shim looks for it.
const RUNTIME_CONFIG: &str = "/runtime-config.toml";
/// How long in-flight requests get after SIGTERM (Kubernetes' default grace is 30 s).
const GRACE_ENV: &str = "SPIN_SHUTDOWN_GRACE_SECONDS";

/// Runs the server; its exit code is the task's (a command app's is its command's).
pub fn main(task_file: &Path) -> i32 {
    match run(task_file) {
        Ok(code) => code,
        Err(e) => {
            // The container's stderr: what `ctr run` and `kubectl logs` show.
            eprintln!("containerd-shim-spin-v2: {e:#}");
            1
        }
    }
}

fn run(task_file: &Path) -> Result<i32> {
    let task = ServerTask::read(task_file)
        .with_context(|| format!("reading the task {}", task_file.display()))?;
    // PID 1 of a namespace never gets a signal it has no handler for, so a SIGTERM sent before
    // the server's handler exists would be lost: blocked, it waits (see `serve`).
    let stop_signals = stop_signals();
    stop_signals
        .thread_block()
        .context("blocking SIGTERM until the server handles it")?;
    if !wait_for_start() {
        return Ok(0);
    }
    if let AppSource::Sandbox { args, cwd } = &task.app {
        return crate::sandbox::become_command(&task, args, cwd, stop_signals);
    }
    let env = TaskEnv::parse(&task.env);
    let rate = GuestOutput::rate_from(|k| env.get(k)).map_err(anyhow::Error::msg)?;
    let addr =
        spinrt_trigger_http::listen_addr(None, |k| env.get(k)).map_err(anyhow::Error::msg)?;

    let metrics_addr = env
        .get(spinrt_telemetry::METRICS_ADDR_ENV)
        .map(|a| {
            a.parse::<std::net::SocketAddr>().with_context(|| {
                format!(
                    "{}={a} is not an address",
                    spinrt_telemetry::METRICS_ADDR_ENV
                )
            })
        })
        .transpose()?;

    // The pooling allocator resets slots through /proc/self/pagemap, which wasmtime opens on
    // first use; the confined root has no /proc, so it is opened now, without privileges.
    let page_map = spinrt_confine::unprivileged(spinrt_engine::open_page_map)
        .context("opening /proc/self/pagemap")?;
    task.confinement.enter().context("confining the server")?;
    // Port 80 needs the capability the process drops next.
    // Its failure matters only to an app with an HTTP trigger, known once the app is read.
    let listener = bind(addr).with_context(|| format!("cannot listen on {addr}"));
    let metrics = metrics_addr
        .map(|addr| bind(addr).with_context(|| format!("cannot serve metrics on {addr}")))
        .transpose()?;
    task.confinement
        .lock_down()
        .context("dropping the server's privileges")?;

    // Threads only now: namespaces and credentials are per thread until here (the output's
    // writer thread starts with the first line written).
    let output = GuestOutput::to_process_stdio(rate).context("the server's stdout and stderr")?;
    init_logging(&env, &output);
    if !page_map {
        log::info!(
            "no PAGEMAP_SCAN (Linux 6.7+): instance slots are reset by memset, which is slower"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served = runtime.block_on(async {
        // Before the app loads, so its components' load is measured too.
        if let Some(metrics) = metrics {
            spinrt_telemetry::prometheus::spawn(tokio::net::TcpListener::from_std(metrics)?);
        }
        spinrt_telemetry::init_otlp().map_err(anyhow::Error::msg)?;
        serve(task, env, listener, stop_signals, output.clone()).await
    });
    // The last spans and metrics are still batched.
    spinrt_telemetry::shutdown_otlp();
    // What was logged last (why the app did not load) is still queued.
    output.flush(Duration::from_secs(2));
    served
}

/// A listener in the pod's network namespace, ready for tokio.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn stop_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGTERM);
    set.add(nix::sys::signal::Signal::SIGINT);
    set
}

/// Blocks until the daemon writes the Start byte; false when it closed the pipe instead (the
/// task was deleted without starting).
fn wait_for_start() -> bool {
    // SAFETY: the daemon hands this descriptor over, open, and nothing else in this process
    // uses it.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(START_FD) };
    let mut byte = [0u8; 1];
    matches!(pipe.read(&mut byte), Ok(1))
}

fn init_logging(env: &TaskEnv, output: &GuestOutput) {
    let level = env.get("RUST_LOG").unwrap_or_else(|| "info".into());
    let _ = env_logger::Builder::new()
        .parse_filters(&level)
        .format_target(false)
        .target(env_logger::Target::Pipe(Box::new(output.log_writer())))
        .try_init();
}

async fn serve(
    task: ServerTask,
    env: TaskEnv,
    listener: Result<std::net::TcpListener>,
    stop_signals: nix::sys::signal::SigSet,
    output: GuestOutput,
) -> Result<i32> {
    // Before the app loads (compiling may take a while): a stop during it is kept for later.
    // The handlers are in place once this returns; only then are the signals unblocked on this
    // thread (the others keep them blocked), so one sent while the process was starting is
    // delivered now.
    let shutdown = spinrt_trigger_http::shutdown_signal()?;
    stop_signals.thread_unblock()?;
    let mut app = match &task.app {
        AppSource::Artifact { config, layers } => {
            let config_bytes = map(&config.path)?;
            // Machine code is mapped by the engine where it lies, never read here.
            let blobs = layers
                .iter()
                .map(|l| {
                    if l.precompiled {
                        Ok(None)
                    } else {
                        map(&l.path)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let layers: Vec<_> = layers
                .iter()
                .zip(&blobs)
                .map(|(l, bytes)| spinrt_oci::Layer {
                    media_type: &l.media_type,
                    digest: &l.digest,
                    bytes: bytes.as_deref().unwrap_or_default(),
                    precompiled: l.precompiled,
                    compiled_file: l.precompiled.then_some(l.path.as_path()),
                })
                .collect();
            spinrt_oci::read(
                &config.media_type,
                config_bytes.as_deref().unwrap_or_default(),
                &layers,
                &task.work_dir.join("app"),
            )?
        }
        AppSource::Manifest { path, precompiled } => {
            let mut app = spinrt_app::manifest::load(&manifest_in(path)?)?;
            use_precompiled(&mut app, precompiled)?;
            app
        }
        AppSource::Sandbox { .. } => bail!("a sandbox container has no app to serve"),
    };
    if let Some(ids) = env.get(spinrt_app::COMPONENTS_TO_RETAIN_ENV) {
        app.retain_components(&spinrt_app::components_to_retain(&ids))?;
    }
    let grace = env
        .get(GRACE_ENV)
        .map(|s| {
            s.parse()
                .with_context(|| format!("{GRACE_ENV}={s} is not a number of seconds"))
        })
        .transpose()?
        .unwrap_or(30);
    let loaded = load(app, &env, &task.work_dir, output)?;
    // What reading and loading the app freed (the manifest, the locked app, the components'
    // metadata as parsed) goes back to the kernel: an idle pod keeps only what serving uses.
    // SAFETY: malloc_trim only returns the allocator's free pages to the kernel.
    unsafe { libc::malloc_trim(0) };
    let options = ServeOptions {
        grace_period: Duration::from_secs(grace),
        reuse: InstanceReuse::from_lookup(|k| env.get(k)).map_err(anyhow::Error::msg)?,
        ..ServeOptions::default()
    };
    spinrt_triggers::run(
        Arc::new(loaded),
        match listener {
            Ok(listener) => HttpListen::Bound(tokio::net::TcpListener::from_std(listener)?),
            Err(e) => HttpListen::Unavailable(e),
        },
        shutdown,
        options,
    )
    .await
}

/// A layer's file, mapped rather than read: a large data layer costs page cache the kernel can
/// reclaim, not memory the container's limit counts until it is freed. `None` when empty
/// (an empty file cannot be mapped).
fn map(path: &Path) -> Result<Option<memmap2::Mmap>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("opening layer {}", path.display()))?;
    if file.metadata()?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the file is the daemon's, or containerd's content store's, bound in read-only;
    // nothing writes it while the server runs.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("mapping layer {}", path.display()))?;
    Ok(Some(map))
}

/// Components whose Wasm the daemon compiled load its machine code instead: matched by the
/// digest of the bytes this process would have compiled.
fn use_precompiled(app: &mut App, precompiled: &[(String, PathBuf)]) -> Result<()> {
    use sha2::{Digest, Sha256};
    use spinrt_app::ComponentSource;
    if precompiled.is_empty() {
        return Ok(());
    }
    for component in &mut app.components {
        let ComponentSource::File(path) = &component.source else {
            continue;
        };
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if let Some((_, compiled)) = precompiled.iter().find(|(d, _)| *d == digest) {
            component.source = ComponentSource::Precompiled(compiled.clone());
        }
    }
    Ok(())
}

fn load(app: App, env: &TaskEnv, work_dir: &Path, output: GuestOutput) -> Result<LoadedApp> {
    let config = EngineConfig {
        cache_dir: None,
        ..EngineConfig::from_lookup(|k| env.get(k))?
    };
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
        output: Some(output),
    };
    Ok(LoadedApp::load(&engine, app, host)?)
}

/// The Spin manifest the command names: `spin.toml` in a directory (`command: ["/"]`), or a
/// `.toml` file; `None` when the command is something else (a Linux container's).
pub fn manifest_at(path: &Path) -> Option<PathBuf> {
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
        return None;
    };
    manifest.is_file().then_some(manifest)
}

fn manifest_in(path: &Path) -> Result<PathBuf> {
    match manifest_at(path) {
        Some(manifest) => Ok(manifest),
        None => bail!("no Spin app: {} holds no spin.toml", path.display()),
    }
}
