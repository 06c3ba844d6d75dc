//! The pod's Linux containers (sidecars; not the pause container) run by `runc`, as
//! containerd-shim-runc-v2 runs them: `runc create` with the container's stdio, `start`,
//! signals to the init process, `delete`. The shim is their subreaper, so their exits reach it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::daemon::exits::Exits;

/// Where runc keeps its state for this shim's containers.
pub(crate) const RUNC_ROOT: &str = "/run/containerd-shim-spin/runc";

#[derive(Debug, thiserror::Error)]
#[error("runc {command} {id}: {message}")]
pub struct RuncError {
    command: &'static str,
    id: String,
    message: String,
}

pub struct Runc {
    root: PathBuf,
    exits: Arc<Exits>,
}

/// The container's stdio, already open.
pub struct ContainerStdio {
    pub stdin: File,
    pub stdout: File,
    pub stderr: File,
}

impl Runc {
    pub fn new(namespace: &str, exits: Arc<Exits>) -> Self {
        Self {
            root: Path::new(RUNC_ROOT).join(namespace),
            exits,
        }
    }

    /// `runc create`: the container's init process, stopped before the user's command; its PID.
    pub fn create(&self, id: &str, bundle: &Path, stdio: ContainerStdio) -> Result<u32, RuncError> {
        let pid_file = bundle.join("init.pid");
        let bundle_arg = bundle.to_string_lossy();
        let pid_arg = pid_file.to_string_lossy();
        let flags = ["--bundle", &bundle_arg, "--pid-file", &pid_arg];
        self.run("create", &flags, id, &[], bundle, Some(stdio))?;
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| RuncError {
                command: "create",
                id: id.to_string(),
                message: format!("no PID in {}", pid_file.display()),
            })
    }

    pub fn start(&self, id: &str, bundle: &Path) -> Result<(), RuncError> {
        self.run("start", &[], id, &[], bundle, None)
    }

    /// Signals every process of the container (`kill --all`).
    pub fn kill_all(&self, id: &str, bundle: &Path, signal: u32) -> Result<(), RuncError> {
        self.run("kill", &["--all"], id, &[&signal.to_string()], bundle, None)
    }

    pub fn delete(&self, id: &str, bundle: &Path) -> Result<(), RuncError> {
        self.run("delete", &["--force"], id, &[], bundle, None)
    }

    /// `runc COMMAND FLAGS... ID TAIL...` in the bundle; its last logged message when it fails.
    fn run(
        &self,
        command: &'static str,
        flags: &[&str],
        id: &str,
        tail: &[&str],
        bundle: &Path,
        stdio: Option<ContainerStdio>,
    ) -> Result<(), RuncError> {
        let error = |message: String| RuncError {
            command,
            id: id.to_string(),
            message,
        };
        // runc's own messages go to its log: its stdio may be the container's.
        let log = bundle.join("runc.log");
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new("runc");
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&log)
            .arg(command)
            .args(flags)
            .arg(id)
            .args(tail)
            .current_dir(bundle);
        match stdio {
            Some(s) => {
                cmd.stdin(s.stdin).stdout(s.stdout).stderr(s.stderr);
            }
            None => {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
        }
        // The reaper waits for every child: the exit comes through it, not `Child::wait`.
        let child = cmd
            .spawn()
            .map_err(|e| error(format!("cannot run runc: {e}")))?;
        let code = self.exits.wait(child.id());
        if code == 0 {
            return Ok(());
        }
        let message = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_string))
            .next_back()
            .unwrap_or_else(|| format!("exit code {code}"));
        Err(error(message))
    }
}
