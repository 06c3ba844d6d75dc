//! Joining the pod's namespaces and creating the process's own.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use nix::sched::{CloneFlags, setns, unshare};

use crate::ConfineError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Namespace {
    Network,
    Ipc,
    Uts,
    Pid,
    Mount,
    Cgroup,
}

impl Namespace {
    fn flag(self) -> CloneFlags {
        match self {
            Namespace::Network => CloneFlags::CLONE_NEWNET,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
            Namespace::Mount => CloneFlags::CLONE_NEWNS,
            Namespace::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Namespace::Network => "network",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Pid => "pid",
            Namespace::Mount => "mount",
            Namespace::Cgroup => "cgroup",
        }
    }
}

fn join(kind: Namespace, path: &Path) -> Result<(), ConfineError> {
    let error = |source| ConfineError::JoinNamespace {
        kind: kind.name(),
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(error)?;
    setns(file, kind.flag()).map_err(|e| error(e.into()))
}

/// Joins the namespaces given with a path and creates those listed without one (but PID),
/// and always a mount namespace. Returns the kinds created.
pub(crate) fn enter(
    namespaces: &[(Namespace, Option<PathBuf>)],
) -> Result<Vec<Namespace>, ConfineError> {
    let mut created = vec![Namespace::Mount];
    for (kind, path) in namespaces {
        match (kind, path) {
            (Namespace::Pid | Namespace::Mount, _) => {}
            (kind, Some(path)) => join(*kind, path)?,
            (kind, None) => created.push(*kind),
        }
    }
    let flags = created
        .iter()
        .fold(CloneFlags::empty(), |flags, kind| flags | kind.flag());
    unshare(flags).map_err(ConfineError::Unshare)?;
    Ok(created)
}

/// Spawns `command` as PID 1 of a new PID namespace, or into the pod's PID namespace at `join`
/// (a pod that shares its process namespace). A PID namespace applies to the children of the
/// thread that enters it, so a short-lived thread of its own enters it and spawns.
pub fn spawn_in_pid_namespace(
    command: &mut Command,
    join: Option<&Path>,
) -> std::io::Result<Child> {
    std::thread::scope(|s| {
        s.spawn(|| {
            match join {
                Some(path) => {
                    let file = File::open(path)?;
                    setns(file, CloneFlags::CLONE_NEWPID)?;
                }
                None => unshare(CloneFlags::CLONE_NEWPID)?,
            }
            command.spawn()
        })
        .join()
        .map_err(|_| std::io::Error::other("the spawning thread panicked"))?
    })
}
