//! A private containerd for tests: its own root, state dir and socket under a temp dir, our
//! freshly built shim first on its PATH, torn down (tasks, mounts, processes) on drop, also
//! after a failed test. Nothing is installed here: `make test` fetched the packages.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The runtime type containerd maps to our shim binary.
pub const RUNTIME: &str = "io.containerd.spin.v2";
/// Debug builds compile components slowly; a task may take this long to listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The containerd releases we test against (the packages `scripts/fetch-containerd.sh` unpacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// containerd 1.7 (config version 2).
    V1_7,
    /// containerd 2.1 (config version 3).
    V2_1,
}

impl Version {
    pub const ALL: [Version; 2] = [Version::V1_7, Version::V2_1];

    /// Where the unpacked package keeps `containerd` and `ctr`.
    pub fn bin_dir(self) -> PathBuf {
        let name = match self {
            Version::V1_7 => "containerd-1.7.24",
            Version::V2_1 => "containerd-2.1.9",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../.tools")
            .join(name)
            .join("usr/bin")
    }
}

/// A container id no other test (nor another containerd on this machine) uses: runc keeps
/// container state in a machine-wide directory keyed by namespace and id.
pub fn unique_id(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Containerd {
    version: Version,
    dir: tempfile::TempDir,
    child: Child,
}

impl Containerd {
    /// Starts a private containerd without its CRI plugin and waits until it answers.
    pub fn start(version: Version) -> Self {
        Self::start_with(version, |root| {
            let disabled = match version {
                Version::V1_7 => r#"["io.containerd.grpc.v1.cri"]"#,
                Version::V2_1 => {
                    r#"["io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images", "io.containerd.grpc.v1.cri"]"#
                }
            };
            format!(
                "disabled_plugins = {disabled}\n{}",
                Self::base_config(version, root)
            )
        })
    }

    /// The settings every private containerd has: config version, root, state and socket
    /// under `root`. Plugin tables go after it.
    pub fn base_config(version: Version, root: &Path) -> String {
        let config_version = match version {
            Version::V1_7 => 2,
            Version::V2_1 => 3,
        };
        format!(
            "version = {config_version}\nroot = \"{r}/root\"\nstate = \"{r}/state\"\n\
             [grpc]\n  address = \"{r}/containerd.sock\"\n",
            r = root.display()
        )
    }

    /// Starts a private containerd with the config `config(root)` returns, and waits until it
    /// answers.
    pub fn start_with(version: Version, config: impl FnOnce(&Path) -> String) -> Self {
        let bin_dir = version.bin_dir();
        assert!(
            bin_dir.join("containerd").is_file(),
            "{} is missing: run scripts/fetch-containerd.sh (make test does)",
            bin_dir.display()
        );
        // Short path: the socket path must fit in sockaddr_un.
        let dir = tempfile::Builder::new()
            .prefix("ctd")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path();
        let shim_dir = root.join("bin");
        std::fs::create_dir_all(&shim_dir).unwrap();
        let shim = crate::bins::bin("containerd-shim-spin-v2");
        std::os::unix::fs::symlink(&shim, shim_dir.join("containerd-shim-spin-v2")).unwrap();
        std::fs::write(root.join("config.toml"), config(root)).unwrap();
        let child = spawn_containerd(version, root);
        let containerd = Self {
            version,
            dir,
            child,
        };
        containerd.wait_until_answering();
        containerd
    }

    /// Stops containerd with `signal` ("TERM", "KILL"), leaving its shims alone, and starts it
    /// again on the same root, state and socket, as a node's service manager would.
    pub fn restart(&mut self, signal: &str) {
        self.stop_daemon(signal);
        self.start_daemon();
    }

    /// Ends containerd with `signal` and waits until it is gone (at most 10 s, then SIGKILL).
    pub fn stop_daemon(&mut self, signal: &str) {
        unsafe_signal(self.child.id(), signal);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts containerd again after [`Containerd::stop_daemon`].
    pub fn start_daemon(&mut self) {
        self.child = spawn_containerd(self.version, self.dir.path());
        self.wait_until_answering();
    }

    fn wait_until_answering(&self) {
        let start = Instant::now();
        while !self.ctr(&["version"]).status.success() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "containerd did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The containerd daemon's process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's own log (where the shim logs too).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// A `ctr` command against this containerd, to spawn.
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.version.bin_dir().join("ctr"));
        cmd.arg("--address")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `ctr` against this containerd.
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_command(args).output().expect("running ctr")
    }

    /// Runs `ctr` and panics with its output unless it succeeds; returns stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed: {}{}\n--- containerd log ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `(id, pid, status)` of every task.
    pub fn tasks(&self) -> Vec<(String, String, String)> {
        self.tasks_in("default")
    }

    /// `(id, pid, status)` of every task in containerd namespace `namespace`.
    pub fn tasks_in(&self, namespace: &str) -> Vec<(String, String, String)> {
        self.ctr_ok(&["-n", namespace, "task", "ls"])
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((f.next()?.into(), f.next()?.into(), f.next()?.into()))
            })
            .collect()
    }

    /// The pid containerd reports for task `id` in `namespace` (a Spin task's server), if it
    /// lists the task.
    pub fn task_pid(&self, namespace: &str, id: &str) -> Option<u32> {
        self.tasks_in(namespace)
            .into_iter()
            .find(|(t, _, _)| t == id)
            .and_then(|(_, pid, _)| pid.parse().ok())
    }

    /// Waits until a task reports `status`, at most `timeout`.
    pub fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.tasks().iter().any(|(t, _, s)| t == id && s == status) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Shim processes started by this containerd that are still alive.
    pub fn shim_processes(&self) -> Vec<u32> {
        let marker = self.dir.path().to_string_lossy().to_string();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("containerd-shim-spin-v2") && cmdline.contains(&marker) {
                pids.push(pid);
            }
        }
        pids
    }

    /// The shim daemon serving task `id` (its command line names the id), if it runs.
    pub fn shim_daemon_of(&self, id: &str) -> Option<u32> {
        let needle = format!("\0-id\0{id}\0");
        self.shim_processes().into_iter().find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(&needle)
                && !String::from_utf8_lossy(&cmdline).contains("-server")
        })
    }

    /// The cgroup directories of task `id` in `namespace` that exist (ctr puts a task in
    /// `/NAMESPACE/ID` of every hierarchy).
    pub fn cgroups_of(namespace: &str, id: &str) -> Vec<PathBuf> {
        let unified = Path::new("/sys/fs/cgroup").join(namespace).join(id);
        let mut found: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|c| c.path().join(namespace).join(id))
            .filter(|p| p.is_dir())
            .collect();
        if unified.is_dir() {
            found.push(unified);
        }
        found
    }

    /// After tasks `ids` (namespace `default`) were deleted: no shim process (given 10 s to
    /// exit), task, mount, cgroup of theirs or lease beyond `leases_before` is left. `case`
    /// starts each failure's message.
    pub fn assert_nothing_left(&self, case: &str, ids: &[&str], leases_before: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.shim_processes().is_empty() {
            assert!(
                Instant::now() < deadline,
                "{case}: shim processes left: {:?}",
                self.shim_processes()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            self.tasks().is_empty(),
            "{case}: tasks left: {:?}",
            self.tasks()
        );
        assert!(
            self.mounts().is_empty(),
            "{case}: mounts left: {:?}",
            self.mounts()
        );
        for id in ids {
            let cgroups = Self::cgroups_of("default", id);
            assert!(
                cgroups.is_empty(),
                "{case}: cgroups of {id} left: {cgroups:?}"
            );
        }
        assert_eq!(self.leases("default"), leases_before, "{case}: leases left");
    }

    /// The content store's leases, by id.
    pub fn leases(&self, namespace: &str) -> Vec<String> {
        self.quiet_lines(&["-n", namespace, "leases", "ls", "-q"])
    }

    /// The socket the shim of a running task listens on (its bundle's `address` file).
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        let address_file = self
            .dir
            .path()
            .join("state/io.containerd.runtime.v2.task/default")
            .join(id)
            .join("address");
        let address = std::fs::read_to_string(&address_file)
            .unwrap_or_else(|e| panic!("{}: {e}", address_file.display()));
        PathBuf::from(address.trim().trim_start_matches("unix://"))
    }

    /// Mounts below this containerd's directory.
    pub fn mounts(&self) -> Vec<String> {
        let marker = self.dir.path().to_string_lossy().to_string();
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&marker))
            .map(str::to_string)
            .collect()
    }
}

/// Spin tasks, the way the tests run them.
impl Containerd {
    /// `ctr run -d` with our runtime on the host network, listening on a free loopback port;
    /// `extra` goes before the image (more `ctr run` flags).
    pub fn run_detached(&self, image: &str, id: &str, extra: &[&str]) -> SocketAddr {
        let port = crate::net::free_port();
        let listen = format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}");
        let mut args = vec![
            "run",
            "-d",
            "--runtime",
            RUNTIME,
            "--net-host",
            "--env",
            &listen,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, id, "/"]);
        self.ctr_ok(&args);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        while !crate::net::wait_for_listener(addr, Duration::from_millis(500)) {
            // A task that failed to start says why in the log; no need to wait it out.
            let stopped = self
                .tasks()
                .iter()
                .any(|(t, _, s)| t == id && s == "STOPPED");
            assert!(
                !stopped && Instant::now() < deadline,
                "task {id} never listened on {addr} ({})\n--- containerd log ---\n{}",
                if stopped { "it stopped" } else { "timed out" },
                self.log()
            );
        }
        addr
    }

    /// SIGTERM, then delete: returns what `ctr task delete` said (it warns on a non-zero exit).
    pub fn stop(&self, id: &str) -> String {
        self.ctr_ok(&["task", "kill", id]);
        self.delete_once_stopped(id)
    }

    /// Waits for a task that was sent SIGTERM to stop, then deletes it and its container.
    pub fn delete_once_stopped(&self, id: &str) -> String {
        assert!(
            self.wait_for_status(id, "STOPPED", Duration::from_secs(40)),
            "task {id} did not stop on SIGTERM\n{}",
            self.log()
        );
        let out = self.ctr(&["task", "delete", id]);
        self.ctr_ok(&["container", "delete", id]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Every namespace: the CRI plugin keeps its pods in `k8s.io`.
        for ns in self.quiet_lines(&["namespaces", "ls", "-q"]) {
            for id in self.quiet_lines(&["-n", &ns, "task", "ls", "-q"]) {
                let _ = self.ctr(&["-n", &ns, "task", "kill", "--signal", "SIGKILL", &id]);
                let _ = self.ctr(&["-n", &ns, "task", "delete", "--force", &id]);
            }
            for id in self.quiet_lines(&["-n", &ns, "container", "ls", "-q"]) {
                let _ = self.ctr(&["-n", &ns, "container", "delete", &id]);
            }
        }
        self.stop_daemon("TERM");
        for pid in self.shim_processes() {
            unsafe_signal(pid, "KILL");
        }
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
    }
}

impl Containerd {
    /// The lines `ctr ARGS` prints, or none when it fails.
    fn quiet_lines(&self, args: &[&str]) -> Vec<String> {
        let out = self.ctr(args);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// containerd on the config under `root`, our shim first on its PATH; its log appended to
/// `root/containerd.log` (a restarted containerd adds to the same log).
fn spawn_containerd(version: Version, root: &Path) -> Child {
    let path = format!(
        "{}:{}:{}",
        root.join("bin").display(),
        version.bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("containerd.log"))
        .unwrap();
    Command::new(version.bin_dir().join("containerd"))
        .arg("--config")
        .arg(root.join("config.toml"))
        .env("PATH", path)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting containerd")
}

/// Whether `pid` runs: any of its threads has not exited yet. The leader thread may show as a
/// zombie while the others still tear down (unmapping the pooled memory takes a while), and the
/// last of them closes the process's files: its listening socket is open until then.
pub fn alive(pid: u32) -> bool {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    threads.flatten().any(|thread| {
        std::fs::read_to_string(thread.path().join("stat"))
            .map(|stat| {
                !stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    })
}

/// SIGKILL, and waits until `pid` is gone (at most 5 s).
pub fn kill9(pid: u32) {
    unsafe_signal(pid, "KILL");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(Instant::now() < deadline, "{pid} survived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unsafe_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}
