//! A real process confined as the shim confines the one that runs guests, checked from outside
//! the way a container runtime's tests check a container: `/proc/PID/status` (capabilities,
//! no_new_privs, seccomp), its namespaces, and what its root holds; and from inside: what it
//! may no longer do.
//!
//! No libtest harness: the child is this binary run again, and a confined process must be
//! single-threaded when it enters its namespaces (libtest runs tests on threads of their own).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use spinrt_confine::{BindMount, Confinement, Namespace, User, spawn_in_pid_namespace};

const CHILD: &str = "--confined-child";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD) {
        confined_child(&args[2..]);
        return;
    }
    // `cargo test` passes harness flags (--nocapture, filters); this file has one test.
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !"a_confined_process_is_contained".contains(f.as_str())) {
        println!("0 passed, 0 failed");
        return;
    }
    a_confined_process_is_contained();
    println!("test a_confined_process_is_contained ... ok");
    println!("1 passed, 0 failed");
}

/// The child: confine, bind port 80, lock down, report what it can and cannot do, then wait
/// for its stdin to close.
fn confined_child(args: &[String]) {
    let [rootfs, data, netns] = args else {
        panic!("child arguments: ROOTFS DATA NETNS")
    };
    let confinement = Confinement {
        namespaces: vec![
            (Namespace::Network, Some(PathBuf::from(netns))),
            (Namespace::Ipc, None),
            (Namespace::Uts, None),
            (Namespace::Cgroup, None),
        ],
        rootfs: rootfs.into(),
        read_only_root: true,
        mounts: vec![BindMount {
            source: data.into(),
            destination: "/app/data".into(),
            read_only: true,
        }],
        hostname: Some("confined".into()),
        user: User::default(),
    };
    confinement.enter().expect("entering the confinement");
    let listener = std::net::TcpListener::bind("0.0.0.0:80").expect("binding port 80");
    confinement.lock_down().expect("locking down");

    let outcome = |r: std::io::Result<()>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.raw_os_error().map_or(e.to_string(), |n| {
            format!("{:?}", nix::errno::Errno::from_raw(n))
        }),
    };
    let mut root: Vec<String> = std::fs::read_dir("/")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    root.sort();
    let report = [
        format!("pid={}", std::process::id()),
        format!("root={}", root.join(",")),
        format!(
            "data={}",
            std::fs::read_to_string("/app/data/greeting.txt").unwrap_or_default()
        ),
        format!("write_root={}", outcome(std::fs::write("/new-file", "x"))),
        format!(
            "write_data={}",
            outcome(std::fs::write("/app/data/new-file", "x"))
        ),
        format!(
            "mount={}",
            outcome(
                nix::mount::mount(
                    Some("tmpfs"),
                    "/app",
                    Some("tmpfs"),
                    nix::mount::MsFlags::empty(),
                    None::<&str>,
                )
                .map_err(std::io::Error::from)
            )
        ),
        format!(
            "unshare={}",
            outcome(
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)
            )
        ),
        format!(
            "setuid={}",
            outcome(
                nix::unistd::setuid(nix::unistd::Uid::from_raw(1)).map_err(std::io::Error::from)
            )
        ),
        format!(
            "hostname={}",
            nix::unistd::gethostname().unwrap().to_string_lossy()
        ),
        format!("listening={}", listener.local_addr().unwrap()),
    ];
    println!("{}", report.join(" "));
    // Held until the parent closes stdin.
    let _ = std::io::stdin().read_line(&mut String::new());
}

fn a_confined_process_is_contained() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/image-file"), "from the image").unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("greeting.txt"), "hello").unwrap();

    let netns = NetNs::add(&format!("spinrt-confine-{}", std::process::id()));
    let mut child = spawn_in_pid_namespace(
        Command::new(std::env::current_exe().unwrap())
            .arg(CHILD)
            .arg(&rootfs)
            .arg(&data)
            .arg(netns.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
        None,
    )
    .expect("spawning the child");
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let report: std::collections::HashMap<&str, &str> = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    eprintln!("child reports: {line}");

    // Seen from outside.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .to_string()
    };
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapPrm:"), "0000000000000000");
    assert_eq!(field("CapBnd:"), "0000000000000000");
    assert_eq!(field("CapAmb:"), "0000000000000000");
    assert_eq!(field("NoNewPrivs:"), "1");
    assert_eq!(field("Seccomp:"), "2", "a seccomp filter is loaded");
    let ns_inode = |path: &Path| std::fs::metadata(path).unwrap().ino();
    assert_eq!(
        ns_inode(&PathBuf::from(format!("/proc/{pid}/ns/net"))),
        ns_inode(&netns.path()),
        "the child is in the pod's network namespace"
    );
    for kind in ["pid", "mnt", "ipc", "uts", "cgroup"] {
        assert_ne!(
            ns_inode(&PathBuf::from(format!("/proc/{pid}/ns/{kind}"))),
            ns_inode(&PathBuf::from(format!("/proc/self/ns/{kind}"))),
            "the child has a {kind} namespace of its own"
        );
    }

    // Seen from inside.
    assert_eq!(report["pid"], "1", "PID 1 of its own PID namespace");
    assert_eq!(
        report["root"], "app,etc",
        "its root holds the image and the bind mount only"
    );
    assert_eq!(report["data"], "hello");
    assert_eq!(
        report["write_root"], "EROFS",
        "the root filesystem is read-only"
    );
    assert_eq!(
        report["write_data"], "EROFS",
        "a read-only bind mount stays read-only"
    );
    assert_eq!(report["mount"], "EPERM");
    assert_eq!(report["unshare"], "EPERM");
    assert_eq!(report["setuid"], "EPERM");
    assert_eq!(report["hostname"], "confined");
    assert_eq!(
        report["listening"], "0.0.0.0:80",
        "bound port 80 before locking down"
    );

    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // The mount namespace went with the child: nothing of it is left on the host.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(dir.path().to_str().unwrap()));
}

/// A network namespace made for the test (`ip netns add`), deleted on drop.
struct NetNs(String);

impl NetNs {
    fn add(name: &str) -> Self {
        let status = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .unwrap();
        assert!(status.success(), "ip netns add {name}");
        Self(name.to_string())
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.0)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
