//! Confines the process that runs guests as a container runtime confines a container's process.
//!
//! A guest that escaped wasmtime must find itself where it would inside a container: the pod's
//! network (and IPC, UTS) namespaces, its own PID and mount namespaces, a root filesystem that
//! holds only the image's files and what the shim binds in, no capabilities, `no_new_privs`,
//! and a seccomp filter refusing what a server never calls (mounts, namespaces, ptrace, kernel
//! modules, ...). The steps are split the way a server needs them:
//!
//! 1. [`spawn_in_pid_namespace`] (the parent) starts the process as PID 1 of a new PID namespace;
//! 2. [`Confinement::enter`] (the process, before it starts threads) joins and creates the
//!    namespaces and pivots into the root filesystem;
//! 3. the process binds its listening sockets (a port below 1024 needs the capability it still
//!    has);
//! 4. [`Confinement::lock_down`] takes the user, drops every capability, sets `no_new_privs`
//!    and loads the seccomp filter. From here on nothing above can be undone.

mod mounts;
mod namespaces;
mod privileges;
mod seccomp;

use std::path::PathBuf;

pub use namespaces::{Namespace, spawn_in_pid_namespace};
pub use privileges::unprivileged;

#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("joining the {kind} namespace at {path}: {source}")]
    JoinNamespace {
        kind: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("creating new namespaces: {0}")]
    Unshare(nix::Error),
    #[error("mount {what}: {source}")]
    Mount { what: String, source: nix::Error },
    #[error(
        "mount destination {0} could leave the root filesystem (a `..` or a symbolic link on its way)"
    )]
    UnsafeDestination(PathBuf),
    #[error("preparing mount point {path}: {source}")]
    MountPoint {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("entering the root filesystem {path}: {source}")]
    PivotRoot { path: PathBuf, source: nix::Error },
    #[error("setting the hostname: {0}")]
    Hostname(nix::Error),
    #[error("taking user {uid}:{gid}: {source}")]
    User {
        uid: u32,
        gid: u32,
        source: nix::Error,
    },
    #[error("dropping capabilities: {0}")]
    Capabilities(String),
    #[error("setting no_new_privs: {0}")]
    NoNewPrivs(nix::Error),
    #[error("seccomp filter: {0}")]
    Seccomp(String),
}

/// A directory or file of the host bound into the root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BindMount {
    pub source: PathBuf,
    /// Absolute, as seen inside the root filesystem.
    pub destination: PathBuf,
    pub read_only: bool,
}

/// The user the process runs as (a pod's `runAsUser`, `runAsGroup`, `supplementalGroups`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// What the process is confined to; the shim builds it from the container's OCI spec.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Confinement {
    /// Namespaces as an OCI spec lists them: with a path, the pod's to join
    /// (`/var/run/netns/cni-...`, `/proc/PID/ns/ipc`); without, a new one. A kind not listed
    /// is the parent's (a host-network pod). A mount namespace is always new; the PID
    /// namespace is [`spawn_in_pid_namespace`]'s.
    pub namespaces: Vec<(Namespace, Option<PathBuf>)>,
    /// The container's root filesystem, already mounted: it becomes `/`.
    pub rootfs: PathBuf,
    /// As a pod's `readOnlyRootFilesystem`; otherwise the root is the container's own
    /// writable snapshot, as for any container.
    pub read_only_root: bool,
    /// Bound into the root filesystem in order.
    pub mounts: Vec<BindMount>,
    /// Set when the process has a UTS namespace of its own.
    pub hostname: Option<String>,
    pub user: User,
}

impl Confinement {
    /// Joins the pod's namespaces, creates the others and makes the root filesystem `/`.
    /// Call it before the process starts a thread: namespaces are per thread.
    pub fn enter(&self) -> Result<(), ConfineError> {
        let created = namespaces::enter(&self.namespaces)?;
        mounts::enter_rootfs(&self.rootfs, &self.mounts, self.read_only_root)?;
        if created.contains(&Namespace::Uts)
            && let Some(hostname) = &self.hostname
        {
            nix::unistd::sethostname(hostname).map_err(ConfineError::Hostname)?;
        }
        Ok(())
    }

    /// Takes the user and gives up every privilege, for good.
    pub fn lock_down(&self) -> Result<(), ConfineError> {
        privileges::drop_all(&self.user)?;
        seccomp::load_filter()
    }
}
