//! The shim daemon: one process per pod (containerd groups a pod's containers in one shim
//! when `start` returns the same address for the same `io.kubernetes.cri.sandbox-id`, as
//! containerd-shim-runc-v2 does). It speaks containerd's task API and starts each container's
//! process: a confined server for a Spin container, runc for a Linux one.

mod any;
mod app;
mod cgroup;
mod content;
mod events;
mod exits;
mod oom;
mod plain;
mod precompile;
mod runc;
mod spin;
mod stats;
mod stdio;
mod task;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use containerd_shim::api::DeleteResponse;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, Flags, StartOpts};

/// Where containerd tells its shims to send events (its ttrpc socket).
const TTRPC_ADDRESS: &str = "TTRPC_ADDRESS";
/// The annotation CRI puts on every container of a pod.
const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";

/// Set when containerd shuts the shim down.
#[derive(Default)]
pub struct ExitSignal {
    exited: Mutex<bool>,
    cv: Condvar,
}

impl ExitSignal {
    pub fn signal(&self) {
        *self.exited.lock().expect("not poisoned") = true;
        self.cv.notify_all();
    }

    fn wait(&self) {
        let mut exited = self.exited.lock().expect("not poisoned");
        while !*exited {
            exited = self.cv.wait(exited).expect("not poisoned");
        }
    }
}

pub struct SpinShim {
    id: String,
    namespace: String,
    containerd_address: String,
    exit: Arc<ExitSignal>,
}

impl containerd_shim::Shim for SpinShim {
    type T = task::TaskService;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        Self {
            id: args.id.clone(),
            namespace: args.namespace.clone(),
            containerd_address: args.address.clone(),
            exit: Arc::default(),
        }
    }

    /// One daemon per pod: the containers of a pod share the sandbox's address.
    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let grouping = oci_spec::runtime::Spec::load("config.json")
            .ok()
            .and_then(|spec| spec.annotations().clone())
            .and_then(|a| a.get(SANDBOX_ID).cloned())
            .unwrap_or_else(|| opts.id.clone());
        let (_pid, address) = containerd_shim::spawn(opts, &grouping, vec![])?;
        containerd_shim::util::write_address(&address)?;
        Ok(address)
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    /// The publisher containerd-shim made is dropped: events connect when they are sent.
    fn create_task_service(&self, _publisher: RemotePublisher) -> Self::T {
        let ttrpc_address = std::env::var(TTRPC_ADDRESS).unwrap_or_default();
        task::TaskService::new(
            &self.namespace,
            &self.containerd_address,
            &ttrpc_address,
            self.exit.clone(),
        )
        .expect("starting the task service")
    }

    /// containerd's clean-up after the daemon died: the container's processes, runc state and
    /// rootfs mount (the bundle is the working directory).
    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = std::env::current_dir()
            .map_err(|e| containerd_shim::Error::Other(format!("the bundle directory: {e}")))?;
        cleanup_after_crash(&self.id, &self.namespace, &bundle);
        Ok(DeleteResponse {
            exit_status: 137,
            exited_at: MessageField::some(
                containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp::now(),
            ),
            ..Default::default()
        })
    }
}

fn cleanup_after_crash(id: &str, namespace: &str, bundle: &Path) {
    // A Spin container has its server's directory in the bundle; any other is runc's.
    if bundle.join(spin::SERVER_DIR).is_dir() {
        let removed = oci_spec::runtime::Spec::load(bundle.join("config.json"))
            .map_err(anyhow::Error::from)
            .and_then(|spec| spin::remove_after_crash(&spec, namespace, id));
        if let Err(e) = removed {
            log::warn!("container {id}: {e:#}");
        }
    } else {
        let _ = std::process::Command::new("runc")
            .arg("--root")
            .arg(Path::new(runc::RUNC_ROOT).join(namespace))
            .args(["delete", "--force", id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = nix::mount::umount2(&bundle.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
}
