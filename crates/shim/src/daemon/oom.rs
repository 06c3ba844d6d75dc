//! OOM kills in a container's cgroup, reported to containerd as `TaskOOM` (CRI then gives the
//! container the reason `OOMKilled`, which `kubectl describe` shows). The kernel tells: on
//! cgroup v1 through an eventfd registered for `memory.oom_control`, on v2 through a change of
//! `memory.events` (its `oom_kill` count). One thread per container, asleep until then.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// The memory cgroup directory of `pid`: its v1 `memory` hierarchy, or its v2 cgroup.
fn memory_cgroup(pid: u32) -> Option<(PathBuf, bool)> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            return Some((Path::new("/sys/fs/cgroup/memory").join(path), false));
        }
        if controllers.is_empty() && Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            return Some((Path::new("/sys/fs/cgroup").join(path), true));
        }
    }
    None
}

/// Calls `on_oom` each time the kernel's OOM killer acts in the memory cgroup of `pid`, until
/// the cgroup is gone.
pub fn watch(pid: u32, on_oom: impl Fn() + Send + 'static) {
    let Some((dir, v2)) = memory_cgroup(pid) else {
        log::warn!("process {pid}: no memory cgroup to watch for OOM kills");
        return;
    };
    let watcher = if v2 {
        watch_v2(dir, on_oom)
    } else {
        watch_v1(dir, on_oom)
    };
    if let Err(e) = watcher {
        log::warn!("process {pid}: not watching for OOM kills: {e}");
    }
}

fn watch_v1(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> std::io::Result<()> {
    let events = EventFd::from_flags(EfdFlags::EFD_CLOEXEC)?;
    let control = File::open(dir.join("memory.oom_control"))?;
    std::fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", events.as_raw_fd(), control.as_raw_fd()),
    )?;
    std::thread::Builder::new()
        .name("oom".into())
        .spawn(move || {
            let _control = control;
            // The eventfd also fires when the cgroup is removed.
            while events.read().is_ok() && dir.exists() {
                on_oom();
            }
        })?;
    Ok(())
}

fn watch_v2(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> std::io::Result<()> {
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC)?;
    let events = dir.join("memory.events");
    inotify.add_watch(
        &events,
        AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_IGNORED,
    )?;
    let mut kills = oom_kills(&events).unwrap_or(0);
    std::thread::Builder::new()
        .name("oom".into())
        .spawn(move || {
            while inotify.read_events().is_ok() {
                let Some(now) = oom_kills(&events) else { break };
                if now > kills {
                    kills = now;
                    on_oom();
                }
            }
        })?;
    Ok(())
}

fn oom_kills(events: &Path) -> Option<u64> {
    let mut text = String::new();
    File::open(events).ok()?.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}
