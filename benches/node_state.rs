//! What a node holds, for the benchmarks that start pods through CRI and compare the node
//! before and after: MemAvailable, network namespaces and pod cgroups, processes of a binary,
//! PSS, and whether a pod answers. Each benchmark uses part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use spinrt_tests::cri::Node;

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `GET /` on the pod's port 80: its status, if it answered.
pub fn get_status(ip: &str) -> Option<u16> {
    let addr: SocketAddr = format!("{ip}:80").parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(format!("GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

pub fn mem_available_kib() -> u64 {
    Memory::now().available_kib
}

/// What /proc/meminfo says of the machine's memory, for a before and after.
#[derive(Clone, Copy)]
pub struct Memory {
    pub available_kib: u64,
    /// The kernel's own memory that is not given back under pressure: unreclaimable slab,
    /// per-CPU allocations, page tables and kernel stacks. Unlike MemAvailable it does not move
    /// with the page cache of other work on the machine.
    pub kernel_kib: u64,
}

impl Memory {
    pub fn now() -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let field = |name: &str| kib_in(&meminfo, name);
        Self {
            available_kib: field("MemAvailable:"),
            kernel_kib: field("SUnreclaim:")
                + field("Percpu:")
                + field("PageTables:")
                + field("KernelStack:"),
        }
    }

    /// MiB per pod of what MemAvailable lost and of what the kernel's memory grew, from
    /// `self` to `after`.
    pub fn per_pod_mib(&self, after: &Memory, pods: usize) -> (f64, f64) {
        let per_pod = |kib: i64| kib as f64 / 1024.0 / pods.max(1) as f64;
        (
            per_pod(self.available_kib as i64 - after.available_kib as i64),
            per_pod(after.kernel_kib as i64 - self.kernel_kib as i64),
        )
    }
}

/// Processes whose command line names `binary` and this node's containerd directory.
pub fn processes_of(node: &Node, binary: &str) -> Vec<u32> {
    let marker = node.containerd().dir().to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains(binary) && cmdline.contains(&marker)
        })
        .collect()
}

/// Network namespaces and pod cgroups on the machine: compared before and after a run.
pub fn node_objects() -> BTreeSet<String> {
    let mut objects = BTreeSet::new();
    for dir in ["/var/run/netns", "/run/netns"] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            objects.insert(format!("netns {}", e.file_name().to_string_lossy()));
        }
    }
    for controller in ["memory", "cpu", "pids", "unified"] {
        let dir = Path::new("/sys/fs/cgroup").join(controller).join("k8s.io");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                objects.insert(format!("cgroup {}", e.path().display()));
            }
        }
    }
    objects
}

/// Proportional set size of a process (its private pages, and its share of shared ones).
pub fn pss_kib(pid: u32) -> u64 {
    kib_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// Resident memory of a process.
pub fn rss_kib(pid: u32) -> u64 {
    kib_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The `FIELD   123 kB` line of a /proc file, in KiB (0 when missing).
fn kib_field(file: &str, field: &str) -> u64 {
    kib_in(&std::fs::read_to_string(file).unwrap_or_default(), field)
}

fn kib_in(text: &str, field: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}
