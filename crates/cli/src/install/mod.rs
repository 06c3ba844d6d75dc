//! `spinrt install` / `spinrt uninstall`: put the shim on a node and register the `spin`
//! runtime handler with containerd, as Kwasm's node installer does; run on the node itself or
//! from a DaemonSet with the host's filesystem mounted.

mod containerd_config;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub use containerd_config::{HANDLER, RUNTIME_TYPE, add_runtime, remove_runtime};

const SHIM: &str = "containerd-shim-spin-v2";
/// What the shim starts beside itself (servers, the compiler); installed with it.
const SHIM_SERVER: &str = "containerd-shim-spin-v2-server";
const BACKUP_SUFFIX: &str = "spinrt-backup";

#[derive(clap::Args)]
pub struct NodeArgs {
    /// containerd's config file (version 2 for containerd 1.6/1.7, version 3 for 2.x).
    #[arg(long, default_value = "/etc/containerd/config.toml")]
    containerd_config: PathBuf,
    /// A directory on containerd's PATH, where it looks for shims.
    #[arg(long, default_value = "/usr/local/bin")]
    bin_dir: PathBuf,
    /// Do not restart containerd (it picks the change up on its next start).
    #[arg(long)]
    no_restart: bool,
    /// Where the node's root filesystem is mounted (a DaemonSet's hostPath volume): the paths
    /// above are taken inside it, and containerd is restarted in the node's namespaces (the
    /// pod needs `hostPID: true`).
    #[arg(long, default_value = "/")]
    host_root: PathBuf,
}

/// Install the shim and add the `spin` runtime handler to containerd's config.
#[derive(clap::Args)]
pub struct InstallCommand {
    #[command(flatten)]
    node: NodeArgs,
    /// The shim to install [default: containerd-shim-spin-v2 next to this program];
    /// containerd-shim-spin-v2-server is taken from beside it.
    #[arg(long)]
    shim: Option<PathBuf>,
}

/// Remove the `spin` runtime handler from containerd's config and the shim from the node.
#[derive(clap::Args)]
pub struct UninstallCommand {
    #[command(flatten)]
    node: NodeArgs,
}

impl InstallCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let shim = match self.shim {
            Some(path) => path,
            None => std::env::current_exe()?
                .parent()
                .context("locating this program")?
                .join(SHIM),
        };
        // The config is checked before anything on the node changes.
        let config = &self.node.on_node(&self.node.containerd_config);
        let text = read_config(config)?;
        let patched = add_runtime(&text).with_context(|| format!("{}", config.display()))?;

        // The server first: a shim must never run without the server it starts.
        for binary in [SHIM_SERVER, SHIM] {
            let source = shim.with_file_name(binary);
            let target = self.node.on_node(&self.node.bin_dir).join(binary);
            copy_atomically(&source, &target, 0o755).with_context(|| {
                format!("installing {} as {}", source.display(), target.display())
            })?;
            log::info!("installed {}", target.display());
        }

        match patched {
            None => log::info!("{}: runtime '{HANDLER}' already there", config.display()),
            Some(patched) => {
                let backup = backup_path(config);
                if !backup.exists() {
                    std::fs::write(&backup, &text)
                        .with_context(|| format!("writing {}", backup.display()))?;
                    log::info!("kept the original as {}", backup.display());
                }
                write_atomically(config, patched.as_bytes())?;
                log::info!(
                    "{}: added runtime '{HANDLER}' ({RUNTIME_TYPE})",
                    config.display()
                );
                self.node.restart_containerd()?;
            }
        }
        Ok(())
    }
}

impl UninstallCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let config = &self.node.on_node(&self.node.containerd_config);
        let text = read_config(config)?;
        match remove_runtime(&text).with_context(|| format!("{}", config.display()))? {
            None => log::info!("{}: no runtime '{HANDLER}'", config.display()),
            Some(cleaned) => {
                write_atomically(config, cleaned.as_bytes())?;
                log::info!("{}: removed runtime '{HANDLER}'", config.display());
                self.node.restart_containerd()?;
            }
        }
        for binary in [SHIM, SHIM_SERVER] {
            let target = self.node.on_node(&self.node.bin_dir).join(binary);
            match std::fs::remove_file(&target) {
                Ok(()) => log::info!("removed {}", target.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("removing {}", target.display()));
                }
            }
        }
        Ok(())
    }
}

impl NodeArgs {
    /// A path of the node, as seen from here.
    fn on_node(&self, path: &Path) -> PathBuf {
        self.host_root.join(path.strip_prefix("/").unwrap_or(path))
    }

    fn restart_containerd(&self) -> anyhow::Result<()> {
        if self.no_restart {
            log::info!("not restarting containerd (--no-restart): restart it to load the change");
            return Ok(());
        }
        if !self.on_node(Path::new("/run/systemd/system")).is_dir() {
            log::warn!(
                "no systemd on the node: restart containerd yourself so it loads the '{HANDLER}' \
                 runtime"
            );
            return Ok(());
        }
        let mut command = if self.host_root == Path::new("/") {
            Command::new("systemctl")
        } else {
            // From a pod: PID 1 is the node's init (hostPID), so its namespaces are the node's.
            let mut nsenter = Command::new("nsenter");
            nsenter.args([
                "--target", "1", "--mount", "--uts", "--ipc", "--net", "--pid",
            ]);
            nsenter.arg("systemctl");
            nsenter
        };
        let status = command
            .args(["restart", "containerd"])
            .status()
            .context("running systemctl")?;
        if !status.success() {
            bail!("`systemctl restart containerd` failed ({status})");
        }
        log::info!("restarted containerd");
        Ok(())
    }
}

fn read_config(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading containerd's config {} (no file? `containerd config default > {0}` writes one)",
            path.display()
        )
    })
}

fn backup_path(config: &Path) -> PathBuf {
    let mut name = config.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{BACKUP_SUFFIX}"));
    config.with_file_name(name)
}

/// Writes beside the target and renames over it: containerd never reads half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("spinrt-tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// Copies a binary beside the target and renames it in place, so a running shim's file is
/// never overwritten under it.
fn copy_atomically(source: &Path, target: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = target.with_extension("spinrt-tmp");
    std::fs::copy(source, &tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, target)?;
    Ok(())
}
