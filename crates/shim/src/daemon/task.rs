//! containerd's task API for the containers of one pod: Spin containers served by a confined
//! server process each, the pause container a confined process of ours too, the other Linux
//! containers (sidecars) by runc.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use containerd_shim::api::{
    ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse, DeleteRequest,
    DeleteResponse, Empty, ExecProcessRequest, KillRequest, PauseRequest, PidsRequest,
    PidsResponse, ResumeRequest, ShutdownRequest, StartRequest, StartResponse, StateRequest,
    StateResponse, StatsRequest, StatsResponse, UpdateTaskRequest, WaitRequest, WaitResponse,
};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExit, TaskIO, TaskOOM, TaskStart,
};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::shim::shim_ttrpc::Task;
use containerd_shim::protos::ttrpc;
use containerd_shim::protos::types::task::{ProcessInfo, Status};
use containerd_shim::{TtrpcContext, TtrpcResult};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::daemon::app;
use crate::daemon::content::Store;
use crate::daemon::events::Events;
use crate::daemon::exits::Exits;
use crate::daemon::runc::{ContainerStdio, Runc};
use crate::daemon::spin::{SpinApp, SpinServer};
use crate::daemon::{stats, stdio};

fn error(code: ttrpc::Code, message: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, message.into()))
}

fn not_found(id: &str) -> ttrpc::Error {
    error(ttrpc::Code::NOT_FOUND, format!("container {id} not found"))
}

fn now() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
        ..Default::default()
    }
}

enum Kind {
    /// A process of ours, confined: a Spin app's server, or the pod's sandbox container.
    Spin(SpinServer),
    /// Run by runc: the pod's other Linux containers (sidecars).
    Linux,
}

#[derive(Clone)]
enum Lifecycle {
    Created,
    Running,
    Stopped { code: u32, at: Timestamp },
}

struct Container {
    id: String,
    bundle: PathBuf,
    io: TaskIO,
    pid: u32,
    kind: Kind,
    rootfs_mounted: bool,
    lifecycle: Mutex<Lifecycle>,
    changed: Condvar,
}

impl Container {
    fn lifecycle(&self) -> Lifecycle {
        self.lifecycle.lock().expect("not poisoned").clone()
    }

    fn stopped(&self) -> Option<(u32, Timestamp)> {
        match self.lifecycle() {
            Lifecycle::Stopped { code, at } => Some((code, at)),
            _ => None,
        }
    }

    fn wait(&self) -> (u32, Timestamp) {
        let mut lifecycle = self.lifecycle.lock().expect("not poisoned");
        loop {
            if let Lifecycle::Stopped { code, at } = &*lifecycle {
                return (*code, at.clone());
            }
            lifecycle = self.changed.wait(lifecycle).expect("not poisoned");
        }
    }
}

pub struct TaskService {
    namespace: String,
    containerd_address: String,
    containers: Mutex<HashMap<String, Arc<Container>>>,
    exits: Arc<Exits>,
    runc: Runc,
    events: Arc<Events>,
    exit: Arc<crate::daemon::ExitSignal>,
    /// For containerd's content API (gRPC).
    rt: tokio::runtime::Runtime,
}

impl TaskService {
    /// `ttrpc_address`: containerd's, where events go.
    pub fn new(
        namespace: &str,
        containerd_address: &str,
        ttrpc_address: &str,
        exit: Arc<crate::daemon::ExitSignal>,
    ) -> std::io::Result<Self> {
        let exits = Exits::start()?;
        Ok(Self {
            namespace: namespace.to_string(),
            containerd_address: containerd_address.to_string(),
            containers: Mutex::default(),
            runc: Runc::new(namespace, exits.clone()),
            exits,
            events: Arc::new(Events::new(namespace, ttrpc_address)),
            exit,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    fn container(&self, id: &str) -> TtrpcResult<Arc<Container>> {
        self.containers
            .lock()
            .expect("not poisoned")
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    fn create_container(&self, req: &CreateTaskRequest) -> anyhow::Result<Container> {
        use anyhow::Context;
        let bundle = PathBuf::from(&req.bundle);
        let spec = Spec::load(bundle.join("config.json")).context("reading the OCI spec")?;
        let rootfs = bundle.join("rootfs");
        let mut rootfs_mounted = false;
        for m in &req.rootfs {
            std::fs::create_dir_all(&rootfs)?;
            containerd_shim::mount::mount_rootfs(
                Some(m.type_.as_str()).filter(|t| !t.is_empty()),
                Some(m.source.as_str()).filter(|s| !s.is_empty()),
                &m.options,
                &rootfs,
            )
            .with_context(|| format!("mounting the rootfs ({})", m.type_))?;
            rootfs_mounted = true;
        }
        let result = (|| {
            let stdio = ContainerStdio {
                stdin: stdio::open(&req.stdin).context("opening stdin")?,
                stdout: stdio::open(&req.stdout).context("opening stdout")?,
                stderr: stdio::open(&req.stderr).context("opening stderr")?,
            };
            if let Some(sandbox) = SpinApp::sandbox(&spec) {
                let server =
                    SpinServer::create(&req.id, &self.namespace, &bundle, &spec, sandbox, stdio)?;
                return Ok((server.pid, Kind::Spin(server)));
            }
            let store = self
                .rt
                .block_on(Store::connect(&self.containerd_address, &self.namespace))?;
            match app::spin_app(&self.rt, &store, &req.id, &spec, &rootfs, &self.exits)? {
                Some(app) => {
                    let server =
                        SpinServer::create(&req.id, &self.namespace, &bundle, &spec, app, stdio)?;
                    Ok((server.pid, Kind::Spin(server)))
                }
                None => {
                    let pid = self.runc.create(&req.id, &bundle, stdio)?;
                    Ok::<_, anyhow::Error>((pid, Kind::Linux))
                }
            }
        })();
        let (pid, kind) = match result {
            Ok(created) => created,
            Err(e) => {
                if rootfs_mounted {
                    unmount(&rootfs);
                }
                return Err(e);
            }
        };
        Ok(Container {
            id: req.id.clone(),
            bundle,
            io: TaskIO {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                ..Default::default()
            },
            pid,
            kind,
            rootfs_mounted,
            lifecycle: Mutex::new(Lifecycle::Created),
            changed: Condvar::new(),
        })
    }
}

fn unmount(rootfs: &Path) {
    if let Err(e) = nix::mount::umount2(rootfs, nix::mount::MntFlags::MNT_DETACH) {
        log::warn!("unmounting {}: {e}", rootfs.display());
    }
}

fn no_exec(exec_id: &str) -> TtrpcResult<()> {
    if exec_id.is_empty() {
        Ok(())
    } else {
        Err(error(
            ttrpc::Code::UNIMPLEMENTED,
            "exec is not supported: a Spin container has no Linux process to enter",
        ))
    }
}

impl Task for TaskService {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        if req.terminal {
            return Err(error(
                ttrpc::Code::INVALID_ARGUMENT,
                "a terminal is not supported",
            ));
        }
        if self
            .containers
            .lock()
            .expect("not poisoned")
            .contains_key(&req.id)
        {
            return Err(error(
                ttrpc::Code::ALREADY_EXISTS,
                format!("container {} exists", req.id),
            ));
        }
        let created = self.create_container(&req);
        // What reading the image took (its config, locked app and Wasm, the gRPC buffers) is
        // freed by now; the pages go back to the kernel instead of staying with an idle pod.
        // SAFETY: malloc_trim only returns the allocator's free pages to the kernel.
        unsafe { libc::malloc_trim(0) };
        let container = created.map_err(|e| {
            log::error!("container {}: {e:#}", req.id);
            error(ttrpc::Code::FAILED_PRECONDITION, format!("{e:#}"))
        })?;
        let container = Arc::new(container);
        let pid = container.pid;
        self.containers
            .lock()
            .expect("not poisoned")
            .insert(req.id.clone(), container.clone());
        self.events.send(TaskCreate {
            container_id: req.id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: MessageField::some(container.io.clone()),
            pid,
            ..Default::default()
        });
        let events = self.events.clone();
        let id = req.id.clone();
        crate::daemon::oom::watch(pid, move || {
            log::info!("container {id}: the OOM killer acted in its cgroup");
            events.send(TaskOOM {
                container_id: id.clone(),
                ..Default::default()
            });
        });
        let events = self.events.clone();
        let watched = container.clone();
        self.exits.watch(pid, move |code| {
            let at = now();
            *watched.lifecycle.lock().expect("not poisoned") = Lifecycle::Stopped {
                code: code as u32,
                at: at.clone(),
            };
            watched.changed.notify_all();
            events.send(TaskExit {
                container_id: watched.id.clone(),
                id: watched.id.clone(),
                pid: watched.pid,
                exit_status: code as u32,
                exited_at: MessageField::some(at),
                ..Default::default()
            });
        });
        log::info!("container {}: created, pid {pid}", req.id);
        Ok(CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        no_exec(&req.exec_id)?;
        let container = self.container(&req.id)?;
        let started = match &container.kind {
            Kind::Spin(server) => server.start(),
            Kind::Linux => self
                .runc
                .start(&container.id, &container.bundle)
                .map_err(anyhow::Error::from),
        };
        started.map_err(|e| error(ttrpc::Code::FAILED_PRECONDITION, format!("{e:#}")))?;
        {
            let mut lifecycle = container.lifecycle.lock().expect("not poisoned");
            if matches!(*lifecycle, Lifecycle::Created) {
                *lifecycle = Lifecycle::Running;
            }
        }
        self.events.send(TaskStart {
            container_id: req.id.clone(),
            pid: container.pid,
            ..Default::default()
        });
        Ok(StartResponse {
            pid: container.pid,
            ..Default::default()
        })
    }

    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        no_exec(&req.exec_id)?;
        let container = self.container(&req.id)?;
        let (status, exit_status, exited_at) = match container.lifecycle() {
            Lifecycle::Created => (Status::CREATED, 0, None),
            Lifecycle::Running => (Status::RUNNING, 0, None),
            Lifecycle::Stopped { code, at } => (Status::STOPPED, code, Some(at)),
        };
        Ok(StateResponse {
            id: container.id.clone(),
            bundle: container.bundle.to_string_lossy().into_owned(),
            pid: container.pid,
            status: status.into(),
            stdin: container.io.stdin.clone(),
            stdout: container.io.stdout.clone(),
            stderr: container.io.stderr.clone(),
            terminal: container.io.terminal,
            exit_status,
            exited_at: exited_at.into(),
            ..Default::default()
        })
    }

    fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        no_exec(&req.exec_id)?;
        let container = self.container(&req.id)?;
        if container.stopped().is_some() {
            return Err(error(
                ttrpc::Code::NOT_FOUND,
                format!("container {} is not running", req.id),
            ));
        }
        if let (Kind::Spin(server), Lifecycle::Created) = (&container.kind, container.lifecycle()) {
            // Not started: it waits for Start; without it, it ends.
            server.cancel();
            return Ok(Empty::new());
        }
        let signal = Signal::try_from(req.signal as i32)
            .map_err(|_| error(ttrpc::Code::INVALID_ARGUMENT, "no such signal"))?;
        if req.all && matches!(container.kind, Kind::Linux) {
            self.runc
                .kill_all(&container.id, &container.bundle, req.signal)
                .map_err(|e| error(ttrpc::Code::UNKNOWN, e.to_string()))?;
        } else {
            kill(Pid::from_raw(container.pid as i32), signal)
                .map_err(|e| error(ttrpc::Code::UNKNOWN, format!("signalling: {e}")))?;
        }
        Ok(Empty::new())
    }

    fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        no_exec(&req.exec_id)?;
        let container = self.container(&req.id)?;
        let (code, at) = match container.stopped() {
            Some(stopped) => stopped,
            None => {
                if let Kind::Spin(server) = &container.kind {
                    // Deleted before Start: let it end, and wait for it.
                    if matches!(container.lifecycle(), Lifecycle::Created) {
                        server.cancel();
                        container.wait()
                    } else {
                        return Err(error(
                            ttrpc::Code::FAILED_PRECONDITION,
                            format!("container {} is running", req.id),
                        ));
                    }
                } else {
                    let _ = kill(Pid::from_raw(container.pid as i32), Signal::SIGKILL);
                    container.wait()
                }
            }
        };
        match &container.kind {
            Kind::Spin(server) => server.remove(),
            Kind::Linux => {
                if let Err(e) = self.runc.delete(&container.id, &container.bundle) {
                    log::warn!("{e}");
                }
            }
        }
        if container.rootfs_mounted {
            unmount(&container.bundle.join("rootfs"));
        }
        self.containers
            .lock()
            .expect("not poisoned")
            .remove(&req.id);
        self.events.send(TaskDelete {
            container_id: req.id.clone(),
            id: req.id.clone(),
            pid: container.pid,
            exit_status: code,
            exited_at: MessageField::some(at.clone()),
            ..Default::default()
        });
        Ok(DeleteResponse {
            pid: container.pid,
            exit_status: code,
            exited_at: MessageField::some(at),
            ..Default::default()
        })
    }

    fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        no_exec(&req.exec_id)?;
        let container = self.container(&req.id)?;
        let (code, at) = container.wait();
        Ok(WaitResponse {
            exit_status: code,
            exited_at: MessageField::some(at),
            ..Default::default()
        })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let container = self.container(&req.id)?;
        Ok(PidsResponse {
            processes: vec![ProcessInfo {
                pid: container.pid,
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let container = self.container(&req.id)?;
        let metrics = stats::metrics(container.pid)
            .map_err(|e| error(ttrpc::Code::UNKNOWN, format!("{e:#}")))?;
        Ok(StatsResponse {
            stats: MessageField::some(metrics),
            ..Default::default()
        })
    }

    fn connect(&self, _ctx: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        let task_pid = self.container(&req.id).map(|c| c.pid).unwrap_or_default();
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<Empty> {
        if self.containers.lock().expect("not poisoned").is_empty() {
            self.exit.signal();
        }
        Ok(Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, _req: ExecProcessRequest) -> TtrpcResult<Empty> {
        Err(error(
            ttrpc::Code::UNIMPLEMENTED,
            "exec is not supported: a Spin container has no Linux process to enter",
        ))
    }

    fn pause(&self, _ctx: &TtrpcContext, _req: PauseRequest) -> TtrpcResult<Empty> {
        Err(error(
            ttrpc::Code::UNIMPLEMENTED,
            "pause is not supported: the app keeps serving",
        ))
    }

    fn resume(&self, _ctx: &TtrpcContext, _req: ResumeRequest) -> TtrpcResult<Empty> {
        Err(error(
            ttrpc::Code::UNIMPLEMENTED,
            "resume is not supported: the app keeps serving",
        ))
    }

    fn update(&self, _ctx: &TtrpcContext, _req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        Err(error(
            ttrpc::Code::UNIMPLEMENTED,
            "updating a running container's resources is not supported",
        ))
    }
}
