//! A Spin container: the daemon prepares what its server needs (the artifact's layers as files,
//! the confinement from the OCI spec, a cgroup) and starts the server, confined, in a new PID
//! namespace; the server waits for the task's Start (see `crate::serve`). The pod's sandbox
//! (pause) container is started the same way, and the server becomes its command once
//! confined: no runc per pod.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use spinrt_confine::{BindMount, Confinement, Namespace, User, spawn_in_pid_namespace};

use crate::daemon::cgroup::ContainerCgroup;
use crate::daemon::content::SpinImage;
use crate::daemon::precompile::MachineCode;
use crate::daemon::runc::ContainerStdio;
use crate::server_task::{AppSource, LayerFile, START_FD, SUBCOMMAND, ServerTask};

/// Where the server finds the artifact's layers (read-only) and its writable directory, inside
/// its root.
const IN_ROOT_LAYERS: &str = "/.spin/layers";
const IN_ROOT_WORK: &str = "/.spin/work";
/// Files of containerd's content store (machine code, data layers), each bound in read-only.
const IN_ROOT_CONTENT: &str = "/.spin/content";

/// The server's files in the container's bundle (its task file, layers written out); its
/// presence marks a Spin container.
pub const SERVER_DIR: &str = "spin";

/// What the container serves.
pub enum SpinApp {
    Artifact(SpinImage),
    /// A `spin.toml` in the rootfs, at `path` inside it, and the machine code of its Wasm by
    /// the Wasm's digest.
    Manifest {
        path: PathBuf,
        compiled: Vec<(String, MachineCode)>,
    },
    /// Not an app: the pod's sandbox container, whose command the process becomes once
    /// confined (see [`AppSource::Sandbox`]).
    Sandbox {
        args: Vec<String>,
        cwd: PathBuf,
    },
}

impl SpinApp {
    /// The pod's sandbox container, as CRI describes it in its spec: confined like a server,
    /// then its own command. `None` for any other container.
    pub fn sandbox(spec: &Spec) -> Option<Self> {
        let kind = spec.annotations().as_ref()?.get(CRI_CONTAINER_TYPE)?;
        let process = spec.process().as_ref()?;
        (kind == "sandbox").then(|| SpinApp::Sandbox {
            args: process.args().clone().unwrap_or_default(),
            cwd: process.cwd().clone(),
        })
    }
}

/// The annotation CRI (containerd 1.7 and 2.x) marks a pod's containers with: `sandbox` for the
/// pause container, `container` for the others.
const CRI_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";

/// The server of a created Spin container.
pub struct SpinServer {
    pub pid: u32,
    /// Writing a byte starts the server; dropping it without writing ends it.
    start: std::sync::Mutex<Option<File>>,
    cgroup: ContainerCgroup,
    dir: PathBuf,
}

impl SpinServer {
    pub fn create(
        id: &str,
        namespace: &str,
        bundle: &Path,
        spec: &Spec,
        app: SpinApp,
        stdio: ContainerStdio,
    ) -> Result<Self> {
        let dir = bundle.join(SERVER_DIR);
        let work_dir = dir.join("work");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let layers_dir = dir.join("layers");
        let mut binds = Vec::new();
        if !matches!(app, SpinApp::Sandbox { .. }) {
            std::fs::create_dir_all(&work_dir)
                .with_context(|| format!("creating {}", work_dir.display()))?;
            binds.push(BindMount {
                source: work_dir,
                destination: IN_ROOT_WORK.into(),
                read_only: false,
            });
        }
        let app = match app {
            SpinApp::Sandbox { args, cwd } => AppSource::Sandbox { args, cwd },
            SpinApp::Artifact(image) => {
                std::fs::create_dir_all(&layers_dir)?;
                let mut content_binds = Vec::new();
                let mut write = |blob: &crate::daemon::content::Blob| -> Result<LayerFile> {
                    let name = blob.digest.replace(':', "-");
                    let path = match &blob.file {
                        // The content store's file, bound in where the server maps it.
                        Some(file) => {
                            let in_root = Path::new(IN_ROOT_CONTENT).join(&name);
                            content_binds.push(BindMount {
                                source: file.clone(),
                                destination: in_root.clone(),
                                read_only: true,
                            });
                            in_root
                        }
                        None => {
                            let path = layers_dir.join(&name);
                            std::fs::write(&path, &blob.bytes)
                                .with_context(|| format!("writing {}", path.display()))?;
                            Path::new(IN_ROOT_LAYERS).join(name)
                        }
                    };
                    Ok(LayerFile {
                        media_type: blob.media_type.clone(),
                        digest: blob.digest.clone(),
                        path,
                        precompiled: blob.precompiled,
                    })
                };
                binds.push(BindMount {
                    source: layers_dir.clone(),
                    destination: IN_ROOT_LAYERS.into(),
                    read_only: true,
                });
                let source = AppSource::Artifact {
                    config: write(&image.config)?,
                    layers: image.layers.iter().map(&mut write).collect::<Result<_>>()?,
                };
                binds.extend(content_binds);
                source
            }
            SpinApp::Manifest { path, compiled } => {
                let mut precompiled = Vec::new();
                for (digest, code) in compiled {
                    let name = digest.replace(':', "-");
                    let in_root = Path::new(IN_ROOT_CONTENT).join(&name);
                    let source = match code {
                        MachineCode::File(file) => file,
                        MachineCode::Bytes(bytes) => {
                            std::fs::create_dir_all(&layers_dir)?;
                            let file = layers_dir.join(&name);
                            std::fs::write(&file, bytes)
                                .with_context(|| format!("writing {}", file.display()))?;
                            file
                        }
                    };
                    binds.push(BindMount {
                        source,
                        destination: in_root.clone(),
                        read_only: true,
                    });
                    precompiled.push((digest, in_root));
                }
                AppSource::Manifest { path, precompiled }
            }
        };
        let (confinement, pid_namespace) = confinement(spec, bundle, binds)?;
        let process = spec.process().as_ref().context("the spec has no process")?;
        let env = process.env().clone().unwrap_or_default();
        // The AWS SDK (the SQS trigger) and OpenTelemetry's exporter read their configuration
        // from the process environment: the task's AWS_* and OTEL_* variables are the server's
        // only ones. Nothing else of the task's environment is, as it is exec'd before it
        // confines itself (LD_PRELOAD and the like must not reach the loader).
        let sdk_env: Vec<(String, String)> = env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("OTEL_"))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let task = ServerTask {
            confinement,
            env,
            app,
            work_dir: IN_ROOT_WORK.into(),
        };
        let task_file = dir.join("task.json");
        task.write(&task_file)
            .with_context(|| format!("writing {}", task_file.display()))?;

        let cgroup = ContainerCgroup::for_spec(spec, namespace, id)?;
        let self_join = match cgroup.prepare(spec) {
            Ok(self_join) => self_join,
            Err(e) => {
                let _ = cgroup.remove();
                return Err(e);
            }
        };
        let (start_read, start_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
        let mut command = Command::new(crate::server_binary()?);
        command
            .arg(SUBCOMMAND)
            .arg(&task_file)
            .env_clear()
            .envs(sdk_env)
            .current_dir("/")
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr);
        let start_fd = start_read.as_raw_fd();
        let joins_itself = self_join.is_some();
        // SAFETY: dup2 is async-signal-safe; it gives the child the start pipe as START_FD
        // (and only the child: the original is close-on-exec). Joining the cgroup makes only
        // async-signal-safe calls too.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(start_fd, START_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(self_join) = &self_join {
                    self_join.join_calling_thread()?;
                }
                Ok(())
            });
        }
        let child = match spawn_in_pid_namespace(&mut command, pid_namespace.as_deref()) {
            Ok(child) => child,
            Err(e) => {
                let _ = cgroup.remove();
                return Err(e).context(if joins_itself {
                    "starting the server process in its cgroup"
                } else {
                    "starting the server process"
                });
            }
        };
        drop(start_read);
        let pid = child.id();
        if !joins_itself && let Err(e) = cgroup.join(pid, spec) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = cgroup.remove();
            return Err(e);
        }
        if let Some(adj) = process.oom_score_adj()
            && let Err(e) = std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
        {
            log::warn!("container {id}: cannot set oom_score_adj {adj}: {e}");
        }
        Ok(Self {
            pid,
            start: std::sync::Mutex::new(Some(File::from(start_write))),
            cgroup,
            dir,
        })
    }

    /// Lets the server go on from its confinement to serving.
    pub fn start(&self) -> Result<()> {
        use std::io::Write;
        let mut start = self.start.lock().expect("not poisoned");
        let mut pipe = start.take().context("the server was started already")?;
        pipe.write_all(b"s").context("the server is gone")?;
        Ok(())
    }

    /// Before Start: makes the server exit without serving.
    pub fn cancel(&self) {
        self.start.lock().expect("not poisoned").take();
    }

    /// After the server exited: its cgroup and files.
    pub fn remove(&self) {
        if let Err(e) = self.cgroup.remove() {
            log::warn!("removing the cgroup of server {}: {e}", self.pid);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// containerd's clean-up after the daemon died: ends whatever still runs in the Spin container's
/// cgroup (its server, PID 1 of its namespace, and so all of it) and removes the cgroup, as
/// `runc delete --force` does for a Linux container. Processes are found through the cgroup,
/// never by a saved pid, which may name another process by now.
pub fn remove_after_crash(spec: &Spec, namespace: &str, id: &str) -> Result<()> {
    let cgroup = ContainerCgroup::for_spec(spec, namespace, id)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // No cgroup (or no such hierarchy) reads as no process; `remove` skips what is missing.
    while let Ok(pids) = cgroup.pids()
        && !pids.is_empty()
    {
        if std::time::Instant::now() > deadline {
            bail!("processes {pids:?} of container {id} outlive SIGKILL");
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cgroup
        .remove()
        .with_context(|| format!("removing the cgroup of container {id}"))
}

/// The confinement the OCI spec describes, and the PID namespace to join (`None`: a new one).
fn confinement(
    spec: &Spec,
    bundle: &Path,
    mut binds: Vec<BindMount>,
) -> Result<(Confinement, Option<PathBuf>)> {
    let mut namespaces = Vec::new();
    let mut pid_namespace = None;
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
    {
        let kind = match ns.typ() {
            LinuxNamespaceType::Network => Namespace::Network,
            LinuxNamespaceType::Ipc => Namespace::Ipc,
            LinuxNamespaceType::Uts => Namespace::Uts,
            LinuxNamespaceType::Cgroup => Namespace::Cgroup,
            LinuxNamespaceType::Pid => {
                pid_namespace = ns.path().clone();
                continue;
            }
            LinuxNamespaceType::Mount => continue,
            LinuxNamespaceType::User => {
                bail!("user namespaces are not supported for Spin containers")
            }
            LinuxNamespaceType::Time => bail!("time namespaces are not supported"),
        };
        namespaces.push((kind, ns.path().clone()));
    }
    // The files CRI binds into every container (/etc/hosts, /etc/resolv.conf, ...).
    let spec_binds = spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            let options = m.options().clone().unwrap_or_default();
            let is_bind = m.typ().as_deref() == Some("bind")
                || options.iter().any(|o| o == "bind" || o == "rbind");
            Some(BindMount {
                source: m.source().clone().filter(|_| is_bind)?,
                destination: m.destination().clone(),
                read_only: options.iter().any(|o| o == "ro"),
            })
        });
    binds.splice(0..0, spec_binds);
    let root = spec.root().as_ref().context("the spec has no root")?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let user = spec
        .process()
        .as_ref()
        .map(|p| User {
            uid: p.user().uid(),
            gid: p.user().gid(),
            additional_gids: p.user().additional_gids().clone().unwrap_or_default(),
        })
        .unwrap_or_default();
    Ok((
        Confinement {
            namespaces,
            rootfs,
            read_only_root: root.readonly().unwrap_or(false),
            mounts: binds,
            hostname: spec.hostname().clone(),
            user,
        },
        pid_namespace,
    ))
}
