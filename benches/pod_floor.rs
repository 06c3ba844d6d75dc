//! What a pod costs the kernel before any process of it runs, whatever the runtime: the
//! objects CRI and CNI make for every pod (a network namespace, a veth pair on the node's bridge
//! with an address, the loopback brought up, a cgroup for the pod's sandbox and one for its
//! container in every controller hierarchy, and the sandbox's shm tmpfs), made here directly
//! by the same CNI plugins, `pods` times, and measured as the drop of MemAvailable and the growth
//! of the kernel's unreclaimable memory. The density table compares it with a whole pod of each
//! kind: no runtime can make a pod cost less.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::node_state::Memory;

const CNI_BIN: &str = "/usr/lib/cni";
/// A /22 of its own (1,022 addresses), beside the density node's 10.215.0.0/22.
const SUBNET: &str = "10.216.0.0/22";
const MAX_PODS: usize = 1022;

pub struct Floor {
    pub pods: usize,
    /// MemAvailable's drop per pod.
    pub mem_per_pod_mib: f64,
    /// The growth of the kernel's unreclaimable memory per pod (see [`Memory`]).
    pub kernel_per_pod_mib: f64,
    pub errors: Vec<String>,
}

/// One pod's kernel objects; [`Drop`] removes them.
struct FloorPod<'a> {
    set: &'a FloorSet,
    index: usize,
    /// Set once the namespace exists: CNI's DEL then runs too, whatever ADD got done.
    netns: Option<String>,
    cgroups: Vec<PathBuf>,
    shm: Option<PathBuf>,
}

/// What all floor pods share: the bridge, the IPAM directory, where cgroups go.
struct FloorSet {
    tag: String,
    bridge: String,
    dir: PathBuf,
    /// Where each hierarchy's floor cgroups go (one directory per hierarchy).
    cgroup_parents: Vec<PathBuf>,
}

pub fn measure(pods: usize, parallel: usize, dir: &Path, deadline: Instant) -> Floor {
    let pods = pods.min(MAX_PODS);
    let tag = (std::process::id() % 100_000).to_string();
    let set = FloorSet {
        bridge: format!("spfl{tag}"),
        cgroup_parents: cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(format!("spinrt-floor-{tag}")))
            .collect(),
        dir: dir.join("floor"),
        tag,
    };
    std::fs::create_dir_all(&set.dir).unwrap();
    for parent in &set.cgroup_parents {
        let _ = std::fs::create_dir(parent);
        // cgroup v2: the pods' cgroups get the controllers a container's do.
        if let Ok(controllers) = std::fs::read_to_string(parent.join("cgroup.controllers")) {
            let enable: Vec<String> = controllers
                .split_whitespace()
                .map(|c| format!("+{c}"))
                .collect();
            let _ = std::fs::write(parent.join("cgroup.subtree_control"), enable.join(" "));
        }
    }
    let before = Memory::now();
    let made: Mutex<Vec<FloorPod>> = Mutex::default();
    let errors: Mutex<Vec<String>> = Mutex::default();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= pods || Instant::now() > deadline {
                        return;
                    }
                    let mut pod = FloorPod {
                        set: &set,
                        index,
                        netns: None,
                        cgroups: Vec::new(),
                        shm: None,
                    };
                    match pod.make() {
                        Ok(()) => made.lock().unwrap().push(pod),
                        // Dropping it removes what was made.
                        Err(e) => errors
                            .lock()
                            .unwrap()
                            .push(format!("floor pod {index}: {e}")),
                    }
                }
            });
        }
    });
    // As the density run waits before it reads MemAvailable.
    std::thread::sleep(Duration::from_secs(3));
    let made = made.into_inner().unwrap();
    let (mem_per_pod_mib, kernel_per_pod_mib) = before.per_pod_mib(&Memory::now(), made.len());
    let floor = Floor {
        pods: made.len(),
        mem_per_pod_mib,
        kernel_per_pod_mib,
        errors: errors.into_inner().unwrap(),
    };
    drop(made);
    for parent in &set.cgroup_parents {
        let _ = std::fs::remove_dir(parent);
    }
    let _ = Command::new("ip")
        .args(["link", "del", &set.bridge])
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&set.dir);
    floor
}

impl FloorPod<'_> {
    fn make(&mut self) -> Result<(), String> {
        let name = format!("spinrt-floor-{}-{}", self.set.tag, self.index);
        run(Command::new("ip").args(["netns", "add", &name]))?;
        self.netns = Some(name);
        self.cni("ADD")?;
        for parent in &self.set.cgroup_parents {
            // The pod's sandbox container and its app container, as CRI makes them.
            for container in ["sandbox", "app"] {
                let dir = parent.join(format!("{}-{container}", self.index));
                std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                self.cgroups.push(dir);
            }
        }
        let shm = self.set.dir.join(format!("shm-{}", self.index));
        std::fs::create_dir(&shm).map_err(|e| format!("{}: {e}", shm.display()))?;
        nix::mount::mount(
            Some("shm"),
            &shm,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOEXEC,
            Some("mode=1777,size=65536k"),
        )
        .map_err(|e| format!("mounting shm on {}: {e}", shm.display()))?;
        self.shm = Some(shm);
        Ok(())
    }

    /// The bridge plugin (veth, address from host-local) and the loopback plugin, as
    /// containerd runs the node's conflist.
    fn cni(&self, command: &str) -> Result<(), String> {
        let netns = Path::new("/run/netns").join(self.netns.as_deref().unwrap_or_default());
        let plugins = [
            (
                "bridge",
                "eth0",
                serde_json::json!({
                    "cniVersion": "1.0.0",
                    "name": "spinrt-floor",
                    "type": "bridge",
                    "bridge": self.set.bridge,
                    "isGateway": true,
                    "ipMasq": false,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": SUBNET}]],
                        "dataDir": self.set.dir.join("ipam"),
                    },
                }),
            ),
            (
                "loopback",
                "lo",
                serde_json::json!({
                    "cniVersion": "1.0.0",
                    "name": "spinrt-floor",
                    "type": "loopback",
                }),
            ),
        ];
        for (plugin, ifname, config) in plugins {
            let mut child = Command::new(Path::new(CNI_BIN).join(plugin))
                .env("CNI_COMMAND", command)
                .env("CNI_CONTAINERID", format!("floor-{}", self.index))
                .env("CNI_NETNS", &netns)
                .env("CNI_IFNAME", ifname)
                .env("CNI_PATH", CNI_BIN)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("running the CNI plugin {plugin}: {e}"))?;
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(config.to_string().as_bytes())
                .map_err(|e| format!("CNI plugin {plugin}: {e}"))?;
            let out = child
                .wait_with_output()
                .map_err(|e| format!("CNI plugin {plugin}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "CNI {command} with {plugin}: {}",
                    String::from_utf8_lossy(&out.stdout).trim()
                ));
            }
        }
        Ok(())
    }
}

impl Drop for FloorPod<'_> {
    fn drop(&mut self) {
        if let Some(shm) = self.shm.take() {
            let _ = nix::mount::umount2(&shm, nix::mount::MntFlags::MNT_DETACH);
        }
        for dir in self.cgroups.drain(..) {
            let _ = std::fs::remove_dir(dir);
        }
        if self.netns.is_some() {
            let _ = self.cni("DEL");
        }
        if let Some(name) = self.netns.take() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The mount point of every cgroup hierarchy with a controller (v1), or the unified one (v2,
/// when it is the only one).
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v1 = Vec::new();
    let mut v2 = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = before.split_whitespace().nth(4).unwrap_or_default();
        let mut after = after.split_whitespace();
        let fs = after.next().unwrap_or_default();
        let super_options = after.nth(1).unwrap_or_default();
        match fs {
            "cgroup" if !super_options.contains("name=") => v1.push(PathBuf::from(mount_point)),
            "cgroup2" => v2.push(PathBuf::from(mount_point)),
            _ => {}
        }
    }
    if v1.is_empty() { v2 } else { v1 }
}
