//! A container's cgroup: created, given the spec's limits, joined by the container's process,
//! removed after it.
//!
//! cgroup v1 with the cgroupfs driver is done here: libcgroups' v1 manager reads the whole of
//! `/proc/self/mountinfo` for every controller it looks for that is not mounted (4 of its 12 on
//! a usual node) and part of it for each of the others, for every container. The mount table
//! grows by about four entries per pod (rootfs, network namespace, shm), so at 200 pods that
//! was ~20 ms of CPU per pod start (about 6 % of the node's CPU while pods started) and it grew
//! with every pod; runc cut the same cost by reading the table once. The hierarchies are found
//! once per daemon here. cgroup v2 and the systemd driver stay with libcgroups, which reads no
//! mount table for them. The spec's device rules are written as they are (CRI's specs deny
//! all and allow the usual devices); libcgroups also added its own default allow list.
//!
//! On v1 the container's process joins its cgroup itself, between fork and exec, by writing
//! `0` to each hierarchy's `tasks` file ([`SelfJoin`]). Writing a pid to `cgroup.procs` moves
//! a whole thread group, for which the kernel write-locks `cgroup_threadgroup_rwsem`: after a
//! quiet spell that waits out an RCU grace period (10-20 ms here, on every pod start on a quiet
//! node), and while it is held no process on the node can fork, exec or exit. Moving the
//! calling thread, the only one of a process that has not exec'd yet, takes no such lock. The
//! process is also charged to the container's memory cgroup from its exec on.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt};
use oci_spec::runtime::{LinuxResources, Spec};

pub enum ContainerCgroup {
    V1(V1Cgroup),
    Managed(AnyCgroupManager),
}

impl ContainerCgroup {
    /// The cgroup the spec names (containerd's default `/<namespace>/<id>` without one).
    pub fn for_spec(spec: &Spec, namespace: &str, id: &str) -> Result<Self> {
        let path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
            .unwrap_or_else(|| PathBuf::from(format!("/{namespace}/{id}")));
        // The systemd driver's form is `slice:prefix:name`.
        let systemd = path.to_string_lossy().contains(':');
        if !systemd && let Some(hierarchies) = v1_hierarchies() {
            return Ok(Self::V1(V1Cgroup::new(hierarchies, &path)?));
        }
        libcgroups::common::create_cgroup_manager(CgroupConfig {
            cgroup_path: path.clone(),
            systemd_cgroup: systemd,
            container_name: id.to_string(),
        })
        .map(Self::Managed)
        .with_context(|| format!("cgroup {}", path.display()))
    }

    /// Makes the cgroup ready for a process that is yet to start. On v1 it is created with the
    /// spec's limits, and the process can join it itself before it execs: the files it writes
    /// to are returned. Otherwise `None`: [`ContainerCgroup::join`] puts the process in once it
    /// runs (libcgroups creates a v2 or systemd cgroup as the first process joins).
    pub fn prepare(&self, spec: &Spec) -> Result<Option<SelfJoin>> {
        match self {
            Self::V1(cgroup) => {
                cgroup.create()?;
                if let Some(resources) = resources_of(spec) {
                    cgroup
                        .apply(resources)
                        .context("applying resource limits")?;
                }
                Ok(Some(cgroup.self_join()?))
            }
            Self::Managed(_) => Ok(None),
        }
    }

    /// Puts a running process into the cgroup (on v1 one [`ContainerCgroup::prepare`] made)
    /// with the spec's limits.
    pub fn join(&self, pid: u32, spec: &Spec) -> Result<()> {
        let resources = resources_of(spec);
        match self {
            Self::V1(cgroup) => cgroup.add(pid),
            Self::Managed(cgroup) => {
                // v1 hierarchies are created as the first process joins; limits apply to
                // what exists.
                cgroup
                    .add_task(nix::unistd::Pid::from_raw(pid as i32))
                    .map_err(|e| anyhow::anyhow!("adding process {pid} to its cgroup: {e}"))?;
                let Some(resources) = resources else {
                    return Ok(());
                };
                cgroup
                    .apply(&ControllerOpt {
                        resources,
                        disable_oom_killer: false,
                        oom_score_adj: None,
                        freezer_state: None,
                    })
                    .map_err(|e| anyhow::anyhow!("applying resource limits: {e}"))
            }
        }
    }

    /// The processes in the cgroup (none when it does not exist).
    pub fn pids(&self) -> Result<Vec<i32>> {
        match self {
            Self::V1(cgroup) => cgroup.pids(),
            Self::Managed(cgroup) => Ok(cgroup
                .get_all_pids()
                .map(|pids| pids.into_iter().map(|p| p.as_raw()).collect())
                .unwrap_or_default()),
        }
    }

    /// Kills what is left in it and removes it; what is missing is skipped.
    pub fn remove(&self) -> Result<()> {
        match self {
            Self::V1(cgroup) => cgroup.remove(),
            Self::Managed(cgroup) => cgroup.remove().map_err(|e| anyhow::anyhow!("{e}")),
        }
    }
}

fn resources_of(spec: &Spec) -> Option<&LinuxResources> {
    spec.linux().as_ref().and_then(|l| l.resources().as_ref())
}

/// The `tasks` files of a v1 cgroup, for a process to join it itself between fork and exec
/// (see the module's comment).
pub struct SelfJoin {
    tasks: Vec<CString>,
}

impl SelfJoin {
    /// Moves the calling thread into the cgroup. Only async-signal-safe calls (open, write,
    /// close), for a forked child before exec; that child has one thread, so the process moves.
    pub fn join_calling_thread(&self) -> std::io::Result<()> {
        for tasks in &self.tasks {
            // SAFETY: a NUL-terminated path; the descriptor is this function's and closed here.
            unsafe {
                let fd = libc::open(tasks.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                let error = std::io::Error::last_os_error();
                libc::close(fd);
                if written != 1 {
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}

/// A mounted v1 hierarchy: where, and its controllers (`cpu,cpuacct` when comounted).
#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    mount_point: PathBuf,
    controllers: Vec<String>,
}

/// The controllers a container joins: libcgroups' set (named hierarchies such as
/// `name=systemd` are not joined).
const CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// The v1 hierarchies, read from the mount table once per process; `None` on cgroup v2 (a
/// hybrid node's controllers are on v1 and are used here).
fn v1_hierarchies() -> Option<&'static [Hierarchy]> {
    static HIERARCHIES: OnceLock<Option<Vec<Hierarchy>>> = OnceLock::new();
    HIERARCHIES
        .get_or_init(|| {
            let unified = nix::sys::statfs::statfs("/sys/fs/cgroup")
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
            if unified {
                return None;
            }
            let table = fs::read_to_string("/proc/self/mountinfo").ok()?;
            let hierarchies = parse_hierarchies(&table);
            (!hierarchies.is_empty()).then_some(hierarchies)
        })
        .as_deref()
}

/// The `cgroup` (v1) mounts of a mountinfo table that hold controllers we join.
fn parse_hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut hierarchies: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((mount, fs)) = line.split_once(" - ") else {
            continue;
        };
        let mut fs = fs.split(' ');
        let (Some("cgroup"), Some(_source), Some(options)) = (fs.next(), fs.next(), fs.next())
        else {
            continue;
        };
        let Some(mount_point) = mount.split(' ').nth(4) else {
            continue;
        };
        let controllers: Vec<String> = options
            .split(',')
            .filter(|o| CONTROLLERS.contains(o))
            .map(str::to_string)
            .collect();
        let mount_point = PathBuf::from(mount_point.replace("\\040", " "));
        // A hierarchy mounted twice is joined once.
        if !controllers.is_empty() && !hierarchies.iter().any(|h| h.controllers == controllers) {
            hierarchies.push(Hierarchy {
                mount_point,
                controllers,
            });
        }
    }
    hierarchies
}

/// A container's directory in each v1 hierarchy.
pub struct V1Cgroup {
    dirs: Vec<(&'static Hierarchy, PathBuf)>,
}

impl V1Cgroup {
    fn new(hierarchies: &'static [Hierarchy], path: &Path) -> Result<Self> {
        let relative: PathBuf = path
            .components()
            .map(|c| match c {
                Component::Normal(part) => Ok(Some(part)),
                Component::RootDir | Component::CurDir => Ok(None),
                _ => bail!("cgroup path {} leaves its hierarchy", path.display()),
            })
            .filter_map(Result::transpose)
            .collect::<Result<_>>()?;
        if relative.as_os_str().is_empty() {
            bail!("cgroup path {:?} names no cgroup", path.display());
        }
        Ok(Self {
            dirs: hierarchies
                .iter()
                .map(|h| (h, h.mount_point.join(&relative)))
                .collect(),
        })
    }

    /// The cgroup of a running process (its `/proc/PID/cgroup`), `None` on cgroup v2.
    pub fn of_process(pid: u32) -> Option<Result<Self>> {
        let hierarchies = v1_hierarchies()?;
        let path = format!("/proc/{pid}/cgroup");
        Some(
            fs::read_to_string(&path)
                .with_context(|| format!("reading {path}"))
                .map(|table| Self::from_table(hierarchies, &table)),
        )
    }

    /// `id:controllers:path` lines, as `/proc/PID/cgroup` has them, against the hierarchies.
    fn from_table(hierarchies: &'static [Hierarchy], table: &str) -> Self {
        let dirs = table
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, ':');
                let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
                let controllers: Vec<&str> = controllers.split(',').collect();
                let hierarchy = hierarchies.iter().find(|h| h.controllers == controllers)?;
                let relative = path.trim_start_matches('/');
                Some((hierarchy, hierarchy.mount_point.join(relative)))
            })
            .collect();
        Self { dirs }
    }

    /// The cgroup's directory in the hierarchy of `controller`.
    pub fn dir(&self, controller: &str) -> Result<&Path> {
        self.dirs
            .iter()
            .find(|(h, _)| h.controllers.iter().any(|c| c == controller))
            .map(|(_, dir)| dir.as_path())
            .with_context(|| format!("the spec's limits need the {controller} cgroup controller, which this node does not mount"))
    }

    fn create(&self) -> Result<()> {
        for (hierarchy, dir) in &self.dirs {
            let cpuset = hierarchy.controllers.iter().any(|c| c == "cpuset");
            // Each new level of a cpuset hierarchy starts with no CPUs and no memory nodes,
            // and no process can join it until it has its parent's.
            let mut level = hierarchy.mount_point.clone();
            for part in dir.strip_prefix(&hierarchy.mount_point)?.components() {
                let parent = level.clone();
                level.push(part);
                match fs::create_dir(&level) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("creating {}", level.display()));
                    }
                }
                if cpuset {
                    for file in ["cpuset.cpus", "cpuset.mems"] {
                        if read(&level, file)?.trim().is_empty() {
                            write(&level, file, read(&parent, file)?.trim())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        if let Some(memory) = resources.memory() {
            let dir = self.dir("memory")?;
            if let Some(limit) = memory.limit().filter(|l| *l != 0) {
                write(dir, "memory.limit_in_bytes", limit)?;
            }
            // memory+swap is at least the limit: written after it, as the cgroup is new.
            if let Some(swap) = memory.swap().filter(|s| *s != 0) {
                write(dir, "memory.memsw.limit_in_bytes", swap)?;
            }
            if let Some(reservation) = memory.reservation().filter(|r| *r != 0) {
                write(dir, "memory.soft_limit_in_bytes", reservation)?;
            }
            if let Some(swappiness) = memory.swappiness() {
                if swappiness > 100 {
                    bail!("memory swappiness {swappiness} is not in 0-100");
                }
                write(dir, "memory.swappiness", swappiness)?;
            }
            if memory.disable_oom_killer() == Some(true) {
                write(dir, "memory.oom_control", 1)?;
            }
        }
        if let Some(cpu) = resources.cpu() {
            let nonzero = |v: Option<i64>| v.filter(|v| *v != 0);
            let settings = [
                ("cpu.shares", cpu.shares().map(|v| v as i64)),
                ("cpu.cfs_period_us", cpu.period().map(|v| v as i64)),
                ("cpu.cfs_quota_us", cpu.quota()),
                ("cpu.rt_period_us", cpu.realtime_period().map(|v| v as i64)),
                ("cpu.rt_runtime_us", cpu.realtime_runtime()),
            ];
            for (file, value) in settings {
                if let Some(value) = nonzero(value) {
                    write(self.dir("cpu")?, file, value)?;
                }
            }
            if let Some(burst) = cpu.burst() {
                write(self.dir("cpu")?, "cpu.cfs_burst_us", burst)?;
            }
            if let Some(idle) = cpu.idle() {
                write(self.dir("cpu")?, "cpu.idle", idle)?;
            }
            for (file, value) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
                if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                    write(self.dir("cpuset")?, file, value)?;
                }
            }
        }
        if let Some(pids) = resources.pids() {
            let limit = pids.limit();
            let max = if limit > 0 {
                limit.to_string()
            } else {
                "max".into()
            };
            write(self.dir("pids")?, "pids.max", max)?;
        }
        for hugepages in resources.hugepage_limits().iter().flatten() {
            let file = format!("hugetlb.{}.limit_in_bytes", hugepages.page_size());
            write(self.dir("hugetlb")?, &file, hugepages.limit())?;
        }
        for device in resources.devices().iter().flatten() {
            let file = if device.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            let number = |n: Option<i64>| match n {
                Some(n) if n >= 0 => n.to_string(),
                _ => "*".to_string(),
            };
            let rule = format!(
                "{} {}:{} {}",
                device
                    .typ()
                    .map_or_else(|| "a".to_string(), |t| t.as_str().to_string()),
                number(device.major()),
                number(device.minor()),
                device.access().as_deref().unwrap_or("rwm")
            );
            write(self.dir("devices")?, file, rule)?;
        }
        if let Some(io) = resources.block_io() {
            let dir = || self.dir("blkio");
            if let Some(weight) = io.weight() {
                write(dir()?, "blkio.weight", weight)?;
            }
            if let Some(weight) = io.leaf_weight() {
                write(dir()?, "blkio.leaf_weight", weight)?;
            }
            for device in io.weight_device().iter().flatten() {
                let id = format!("{}:{}", device.major(), device.minor());
                if let Some(weight) = device.weight() {
                    write(dir()?, "blkio.weight_device", format!("{id} {weight}"))?;
                }
                if let Some(weight) = device.leaf_weight() {
                    write(dir()?, "blkio.leaf_weight_device", format!("{id} {weight}"))?;
                }
            }
            let throttles = [
                (
                    "blkio.throttle.read_bps_device",
                    io.throttle_read_bps_device(),
                ),
                (
                    "blkio.throttle.write_bps_device",
                    io.throttle_write_bps_device(),
                ),
                (
                    "blkio.throttle.read_iops_device",
                    io.throttle_read_iops_device(),
                ),
                (
                    "blkio.throttle.write_iops_device",
                    io.throttle_write_iops_device(),
                ),
            ];
            for (file, devices) in throttles {
                for device in devices.iter().flatten() {
                    let rule = format!("{}:{} {}", device.major(), device.minor(), device.rate());
                    write(dir()?, file, rule)?;
                }
            }
        }
        if let Some(network) = resources.network() {
            if let Some(class_id) = network.class_id() {
                write(self.dir("net_cls")?, "net_cls.classid", class_id)?;
            }
            for priority in network.priorities().iter().flatten() {
                let map = format!("{} {}", priority.name(), priority.priority());
                write(self.dir("net_prio")?, "net_prio.ifpriomap", map)?;
            }
        }
        if resources.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
            bail!("rdma limits are not supported");
        }
        if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            bail!("the spec's cgroup v2 (unified) settings cannot apply on a cgroup v1 node");
        }
        Ok(())
    }

    fn self_join(&self) -> Result<SelfJoin> {
        let tasks = self
            .dirs
            .iter()
            .map(|(_, dir)| {
                CString::new(dir.join("tasks").as_os_str().as_bytes())
                    .with_context(|| format!("cgroup path {}", dir.display()))
            })
            .collect::<Result<_>>()?;
        Ok(SelfJoin { tasks })
    }

    fn add(&self, pid: u32) -> Result<()> {
        for (_, dir) in &self.dirs {
            write(dir, "cgroup.procs", pid)
                .with_context(|| format!("adding process {pid} to its cgroup"))?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let Some((_, dir)) = self.dirs.first() else {
            return Ok(Vec::new());
        };
        let mut pids = Vec::new();
        let mut dirs = vec![dir.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) else {
                continue;
            };
            pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(entry.path());
                }
            }
        }
        Ok(pids)
    }

    fn remove(&self) -> Result<()> {
        for (_, dir) in &self.dirs {
            if !dir.exists() {
                continue;
            }
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            // A killed process leaves its cgroup a moment after it is reaped.
            let mut delay = std::time::Duration::from_millis(10);
            let mut result = fs::remove_dir(dir);
            for _ in 0..5 {
                if result.is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(delay);
                delay *= 2;
                result = fs::remove_dir(dir);
            }
            if dir.exists() {
                result.with_context(|| format!("removing {}", dir.display()))?;
            }
        }
        Ok(())
    }
}

fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

fn write(dir: &Path, file: &str, value: impl ToString) -> Result<()> {
    let path = dir.join(file);
    let value = value.to_string();
    fs::write(&path, &value).with_context(|| format!("writing {value} to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
        LinuxResourcesBuilder,
    };

    const MOUNTINFO: &str = "\
25 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/systemd rw shared:10 - cgroup cgroup rw,xattr,name=systemd
32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw shared:11 - cgroup cgroup rw,cpu,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw shared:12 - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/unified rw shared:13 - cgroup2 cgroup2 rw
35 25 0:29 / /mnt/memory\\040again rw shared:14 - cgroup cgroup rw,memory
36 25 0:4 net:[4026532] /run/netns/cni-1 rw shared:15 - nsfs nsfs rw
";

    #[test]
    fn hierarchies_are_the_controller_mounts_each_once() {
        let found = parse_hierarchies(MOUNTINFO);
        let found: Vec<_> = found
            .iter()
            .map(|h| (h.mount_point.to_str().unwrap(), h.controllers.join(",")))
            .collect();
        assert_eq!(
            found,
            [
                ("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct".to_string()),
                ("/sys/fs/cgroup/memory", "memory".to_string()),
            ]
        );
    }

    /// Hierarchies in a temporary directory, as files: what is written where.
    fn fake(controllers: &[&str]) -> (tempfile::TempDir, &'static [Hierarchy]) {
        let root = tempfile::tempdir().unwrap();
        let hierarchies: Vec<Hierarchy> = controllers
            .iter()
            .map(|c| {
                let mount_point = root.path().join(c);
                fs::create_dir(&mount_point).unwrap();
                Hierarchy {
                    mount_point,
                    controllers: c.split(',').map(str::to_string).collect(),
                }
            })
            .collect();
        (root, Vec::leak(hierarchies))
    }

    #[test]
    fn a_cgroup_path_stays_inside_its_hierarchy() {
        let (_root, hierarchies) = fake(&["memory"]);
        let cgroup = V1Cgroup::new(hierarchies, Path::new("/k8s.io/abc")).unwrap();
        assert!(cgroup.dirs[0].1.ends_with("memory/k8s.io/abc"));
        let e = V1Cgroup::new(hierarchies, Path::new("/k8s.io/../../etc"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("leaves its hierarchy"), "{e}");
        assert!(V1Cgroup::new(hierarchies, Path::new("/")).is_err());
    }

    #[test]
    fn a_process_cgroup_is_found_in_each_hierarchy() {
        let (root, hierarchies) = fake(&["memory", "cpu,cpuacct"]);
        let table =
            "12:pids:/k8s.io/a\n3:cpu,cpuacct:/k8s.io/a\n5:memory:/k8s.io/a\n1:name=systemd:/x\n";
        let cgroup = V1Cgroup::from_table(hierarchies, table);
        assert_eq!(
            cgroup.dir("memory").unwrap(),
            root.path().join("memory/k8s.io/a")
        );
        assert_eq!(
            cgroup.dir("cpuacct").unwrap(),
            root.path().join("cpu,cpuacct/k8s.io/a")
        );
        assert!(cgroup.dir("pids").is_err());
    }

    #[test]
    fn a_process_joins_itself_through_each_hierarchys_tasks_file() {
        let (root, hierarchies) = fake(&["memory", "cpu,cpuacct"]);
        let cgroup = V1Cgroup::new(hierarchies, Path::new("/k8s.io/abc")).unwrap();
        let self_join = cgroup.self_join().unwrap();
        // Not made yet: the error is the kernel's, for the child's spawn to report.
        let missing = self_join.join_calling_thread().unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        cgroup.create().unwrap();
        // cgroupfs makes `tasks` with the directory; a plain file stands in for it here.
        for hierarchy in ["memory", "cpu,cpuacct"] {
            fs::write(root.path().join(hierarchy).join("k8s.io/abc/tasks"), "").unwrap();
        }
        // "0" names the calling thread.
        self_join.join_calling_thread().unwrap();
        for hierarchy in ["memory", "cpu,cpuacct"] {
            let tasks = root.path().join(hierarchy).join("k8s.io/abc/tasks");
            assert_eq!(fs::read_to_string(tasks).unwrap(), "0");
        }
    }

    #[test]
    fn new_cpuset_levels_get_their_parents_cpus_and_memory_nodes() {
        let (root, hierarchies) = fake(&["cpuset"]);
        let top = root.path().join("cpuset");
        fs::write(top.join("cpuset.cpus"), "0-1\n").unwrap();
        fs::write(top.join("cpuset.mems"), "0\n").unwrap();
        let cgroup = V1Cgroup::new(hierarchies, Path::new("/pods/one")).unwrap();
        // cgroupfs makes these files as it makes the directory; a plain directory does not.
        let make_files = |dir: &Path| {
            fs::create_dir_all(dir).unwrap();
            fs::write(dir.join("cpuset.cpus"), "").unwrap();
            fs::write(dir.join("cpuset.mems"), "").unwrap();
        };
        make_files(&top.join("pods"));
        make_files(&top.join("pods/one"));
        cgroup.create().unwrap();
        assert_eq!(read(&top, "pods/one/cpuset.cpus").unwrap(), "0-1");
        assert_eq!(read(&top, "pods/cpuset.mems").unwrap(), "0");
    }

    #[test]
    fn the_specs_limits_are_written_and_a_missing_controller_is_named() {
        let (root, hierarchies) = fake(&["memory", "cpu,cpuacct", "devices"]);
        let cgroup = V1Cgroup::new(hierarchies, Path::new("/k8s.io/abc")).unwrap();
        cgroup.create().unwrap();
        let resources = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(64 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .build()
                    .unwrap(),
            )
            .devices(vec![
                LinuxDeviceCgroupBuilder::default()
                    .allow(false)
                    .access("rwm")
                    .build()
                    .unwrap(),
                LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .typ(LinuxDeviceType::C)
                    .major(1)
                    .minor(3)
                    .access("rw")
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        cgroup.apply(&resources).unwrap();
        let file = |path: &str| fs::read_to_string(root.path().join(path)).unwrap();
        assert_eq!(file("memory/k8s.io/abc/memory.limit_in_bytes"), "67108864");
        assert_eq!(
            file("memory/k8s.io/abc/memory.memsw.limit_in_bytes"),
            "67108864"
        );
        assert_eq!(file("cpu,cpuacct/k8s.io/abc/cpu.shares"), "512");
        assert_eq!(file("cpu,cpuacct/k8s.io/abc/cpu.cfs_quota_us"), "50000");
        assert_eq!(file("cpu,cpuacct/k8s.io/abc/cpu.cfs_period_us"), "100000");
        assert_eq!(file("devices/k8s.io/abc/devices.deny"), "a *:* rwm");
        assert_eq!(file("devices/k8s.io/abc/devices.allow"), "c 1:3 rw");

        let pids = LinuxResourcesBuilder::default()
            .pids(
                oci_spec::runtime::LinuxPidsBuilder::default()
                    .limit(10)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let e = cgroup.apply(&pids).unwrap_err();
        assert!(e.to_string().contains("pids cgroup controller"), "{e}");
    }
}
