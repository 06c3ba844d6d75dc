//! Exit statuses of the shim's children, by PID. containerd-shim's reaper waits for every child
//! (the shim is a subreaper: containers' processes are reparented to it) and reports each exit
//! once; this hands them to whoever watches that PID, also when the exit came first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use containerd_shim::monitor::{Subject, Topic, monitor_subscribe};

type Watcher = Box<dyn FnOnce(i32) + Send>;

/// An exit nobody watched yet is kept this long: a PID is watched right after its spawn, and
/// an old exit must not be taken for a new process that got the same PID.
const UNCLAIMED_FOR: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Exits {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    watchers: HashMap<i32, Watcher>,
    unclaimed: HashMap<i32, (i32, Instant)>,
    order: VecDeque<i32>,
}

impl Exits {
    /// Subscribes to the reaper's exits; call once, before any child is spawned.
    pub fn start() -> std::io::Result<Arc<Self>> {
        let exits = Arc::new(Self::default());
        let subscription = monitor_subscribe(Topic::Pid).map_err(std::io::Error::other)?;
        let dispatch = exits.clone();
        std::thread::Builder::new()
            .name("exits".into())
            .spawn(move || {
                for event in subscription.rx.iter() {
                    if let Subject::Pid(pid) = event.subject {
                        dispatch.exited(pid, event.exit_code);
                    }
                }
            })?;
        Ok(exits)
    }

    fn exited(&self, pid: i32, code: i32) {
        let watcher = {
            let mut state = self.state.lock().expect("not poisoned");
            match state.watchers.remove(&pid) {
                Some(watcher) => Some(watcher),
                None => {
                    let now = Instant::now();
                    state.unclaimed.insert(pid, (code, now));
                    state.order.push_back(pid);
                    while let Some(old) = state.order.front().copied() {
                        match state.unclaimed.get(&old) {
                            Some((_, at)) if now.duration_since(*at) < UNCLAIMED_FOR => break,
                            _ => {
                                state.unclaimed.remove(&old);
                                state.order.pop_front();
                            }
                        }
                    }
                    None
                }
            }
        };
        if let Some(watcher) = watcher {
            watcher(code);
        }
    }

    /// Calls `on_exit` with the exit code of `pid` once it exits (now, if it already has).
    pub fn watch(&self, pid: u32, on_exit: impl FnOnce(i32) + Send + 'static) {
        let pid = pid as i32;
        let early = {
            let mut state = self.state.lock().expect("not poisoned");
            match state.unclaimed.remove(&pid) {
                Some((code, _)) => Some(code),
                None => {
                    state.watchers.insert(pid, Box::new(on_exit));
                    return;
                }
            }
        };
        if let Some(code) = early {
            on_exit(code);
        }
    }

    /// Where the exit code of `pid` arrives once it exits.
    pub fn exit_code(&self, pid: u32) -> std::sync::mpsc::Receiver<i32> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.watch(pid, move |code| {
            let _ = tx.send(code);
        });
        rx
    }

    /// Blocks until `pid` exits; its exit code.
    pub fn wait(&self, pid: u32) -> i32 {
        self.exit_code(pid).recv().unwrap_or(-1)
    }
}
