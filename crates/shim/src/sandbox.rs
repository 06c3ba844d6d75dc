//! The pod's sandbox (pause) container, without runc: the server process confines itself as
//! for a Spin app (the pod's network namespace, new IPC, UTS and mount namespaces, the image's
//! root, the spec's user, no capabilities, `no_new_privs`, the seccomp filter), then becomes
//! the container's command. The pod's other containers join its namespaces through its PID, as
//! they would join runc's pause process. runc costs a pod two runs of a Go binary and its
//! re-exec'd init; this is one exec of ours.

use std::ffi::CString;
use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::sys::signal::SigSet;

use crate::server_task::ServerTask;

/// Where a command without a `/` is looked for when the container's environment has no `PATH`
/// (runc's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Confines this process and replaces it with `args`; returns only on failure.
pub fn become_command(
    task: &ServerTask,
    args: &[String],
    cwd: &Path,
    blocked: SigSet,
) -> Result<i32> {
    let name = args
        .first()
        .context("the sandbox container has no command")?;
    task.confinement
        .enter()
        .context("confining the sandbox container")?;
    task.confinement
        .lock_down()
        .context("dropping the sandbox container's privileges")?;
    std::env::set_current_dir(cwd)
        .with_context(|| format!("the working directory {}", cwd.display()))?;
    let program = find(name, &task.env)?;
    let argv = c_strings(args)?;
    let envp = c_strings(&task.env)?;
    // The command handles the signals it wants; none stays blocked across exec.
    blocked.thread_unblock()?;
    let Err(e) = nix::unistd::execve(&c_string(&program)?, &argv, &envp);
    bail!("running {name} ({program}): {e}")
}

/// `name` as exec finds it: itself when it holds a `/`, else the first executable file of that
/// name in the container's `PATH`.
fn find(name: &str, env: &[String]) -> Result<String> {
    if name.contains('/') {
        return Ok(name.to_string());
    }
    let path = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| nix::unistd::access(candidate, nix::unistd::AccessFlags::X_OK).is_ok())
        .map(|p| p.to_string_lossy().into_owned())
        .with_context(|| format!("{name} is not in PATH={path}"))
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("{s:?} holds a NUL byte"))
}

fn c_strings(items: &[String]) -> Result<Vec<CString>> {
    items.iter().map(|s| c_string(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_found_in_the_containers_path() {
        let env = ["PATH=/nonexistent:/bin".to_string()];
        assert_eq!(find("sh", &env).unwrap(), "/bin/sh");
        assert_eq!(find("/pause", &env).unwrap(), "/pause");
        let e = find("no-such-command", &env).unwrap_err();
        assert!(e.to_string().contains("PATH=/nonexistent:/bin"), "{e}");
    }
}
