//! `make bench-density`: what a Spin pod costs a node, against a Linux container pod, measured
//! through CRI exactly as kubelet drives a node, in one run.
//!
//! For each kind of pod (ours: handler `spin`, a Spin artifact; theirs: handler `runc`, busybox
//! httpd serving a page), on a fresh private containerd 2.1 with CNI bridge networking: the image
//! is run once, then `DENSITY_PODS` pods (default 200) are started `DENSITY_PARALLEL` (8) at a
//! time, each ready when its pod IP answers `GET /` with 200. Measured: memory per pod (drop of
//! MemAvailable / pods), processes of the shim binary per pod, pod start (RunPodSandbox to first
//! 200) p50/p99 and the median of each step, time for all, CPU while `IDLE_PODS` (100) pods sit
//! idle, teardown time and what is left after it. Where a pod's memory goes: the PSS of the
//! shim's processes, the growth of containerd's PSS and of the kernel's unreclaimable memory,
//! and, after both kinds, what a pod costs the kernel with no process at all (`pod_floor`). The
//! table goes into `benches/RESULTS.md`.
//!
//! Bounded: starting stops at `DENSITY_DEADLINE_SECS` (default 900) and every pod is removed
//! through CRI, then containerd and any shim left are stopped by process id (the node harness's
//! drop).

mod node_state;
mod pod_floor;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spinrt_tests::containerd::Version;
use spinrt_tests::cri::{ContainerSpec, Node, Pod};
use spinrt_tests::{apps, images, report};

use node_state::{Memory, env_or, get_status, node_objects, percentile, processes_of, pss_kib};

const IDLE_PODS: usize = 100;
const IDLE_SECONDS: u64 = 10;
/// How long one pod may take from RunPodSandbox to its first 200.
const POD_TIMEOUT: Duration = Duration::from_secs(120);

struct Kind {
    name: &'static str,
    handler: &'static str,
    image: &'static str,
    command: &'static [&'static str],
    /// The shim binary whose processes are counted.
    shim: &'static str,
}

const SPIN: Kind = Kind {
    name: "Spin pods (handler `spin`, hello artifact)",
    handler: "spin",
    image: "localhost/hello:v1",
    command: &["/"],
    shim: "containerd-shim-spin-v2",
};

const RUNC: Kind = Kind {
    name: "runc pods (busybox httpd)",
    handler: "runc",
    image: "localhost/busybox-httpd:v1",
    command: &["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"],
    shim: "containerd-shim-runc-v2",
};

#[derive(Default)]
struct Figures {
    started: usize,
    failed: Vec<String>,
    /// Pods that answered the final check only when asked a second time.
    second_try: usize,
    mem_per_pod_mib: f64,
    /// Growth of the kernel's unreclaimable memory per pod.
    kernel_per_pod_mib: f64,
    /// Growth of containerd's PSS per pod.
    containerd_per_pod_mib: f64,
    shim_processes: usize,
    /// PSS of the shim binary's processes per pod, MiB.
    shim_pss_per_pod_mib: f64,
    start_p50: Duration,
    start_p99: Duration,
    /// Medians of RunPodSandbox, Create+StartContainer, and on to the first 200.
    steps_p50: [Duration; 3],
    all_started: Duration,
    idle_cpu_percent: Option<f64>,
    /// The commands that used the most CPU ticks while the pods were idle.
    idle_cpu_top: String,
    teardown: Duration,
    left: Vec<String>,
    /// One ListContainerStats for all containers (kubelet's summary), and how many it gave.
    stats_round: Duration,
    stats_containers: usize,
}

/// How long a pod took to start, and in which steps.
#[derive(Clone, Copy, Default)]
struct PodStart {
    /// RunPodSandbox to the first 200.
    total: Duration,
    /// RunPodSandbox (the network, the pause container).
    sandbox: Duration,
    /// CreateContainer and StartContainer of the app.
    container: Duration,
    /// From there to the first 200.
    answer: Duration,
}

/// Starts one pod as kubelet would and waits for its first 200.
fn start_pod(node: &Node, kind: &Kind, name: &str) -> Result<(Pod, String, PodStart), String> {
    let start = Instant::now();
    let pod = node.run_pod_with(name, kind.handler);
    let sandbox = start.elapsed();
    let container_id = node.start_container(
        &pod,
        ContainerSpec {
            name: "app",
            image: kind.image,
            command: kind.command,
            memory_limit_bytes: 0,
        },
    );
    let container = start.elapsed() - sandbox;
    while start.elapsed() < POD_TIMEOUT {
        if get_status(&pod.ip) == Some(200) {
            let total = start.elapsed();
            return Ok((
                pod,
                container_id,
                PodStart {
                    total,
                    sandbox,
                    container,
                    answer: total - sandbox - container,
                },
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("{name}: no 200 from {} in {POD_TIMEOUT:?}", pod.ip))
}

/// Whether a pod that answered once still does. The first `GET` after the pods sit idle can go
/// unanswered within its timeout at 1,000 pods of either kind (the host resolving the pod's
/// address again); such a pod is asked once more a second later, and counted as a miss. One
/// that does not answer then is reported with its container's state and the end of its log.
fn still_answering(node: &Node, pod: &Pod, container: &str) -> Result<(), Option<String>> {
    if get_status(&pod.ip) == Some(200) {
        return Ok(());
    }
    std::thread::sleep(Duration::from_secs(1));
    let again = get_status(&pod.ip);
    if again == Some(200) {
        return Err(None);
    }
    let status = node.container_status(container);
    let log = node.container_log(&status);
    let tail: Vec<String> = log[log.len().saturating_sub(3)..]
        .iter()
        .map(|(stream, line)| format!("{stream}: {line}"))
        .collect();
    Err(Some(format!(
        "{} stopped answering ({}; container state {}, exit code {}, reason \"{}\"; log ends: {})",
        pod.ip,
        again.map_or("no answer".into(), |code| format!("HTTP {code}")),
        status.state,
        status.exit_code,
        status.reason,
        tail.join(" | ")
    )))
}

/// Busy and total jiffies of all CPUs.
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle + iowait
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU ticks used so far by each process, with its command name; keyed by pid, as a kernel
/// worker's name changes with the work it does (`kworker/0:2-events`).
fn ticks_by_process() -> std::collections::HashMap<u32, (String, u64)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (comm, ticks) = spinrt_tests::report::cpu_ticks(&stat)?;
            Some((pid, (comm, ticks)))
        })
        .collect()
}

/// The share of both cores busy over `seconds`, in percent of the machine, and the commands
/// that used the most of it.
fn cpu_busy_percent(seconds: u64) -> (f64, String) {
    let before = ticks_by_process();
    let (busy0, total0) = cpu_jiffies();
    std::thread::sleep(Duration::from_secs(seconds));
    let (busy1, total1) = cpu_jiffies();
    let after = ticks_by_process();
    let mut by_command: std::collections::HashMap<String, u64> = Default::default();
    for (pid, (comm, ticks)) in &after {
        let earlier = before.get(pid).map_or(0, |(_, t)| *t);
        *by_command.entry(comm.clone()).or_default() += ticks.saturating_sub(earlier);
    }
    let mut top: Vec<_> = by_command.into_iter().filter(|(_, t)| *t > 0).collect();
    top.sort_by_key(|(_, ticks)| std::cmp::Reverse(*ticks));
    let top = top
        .iter()
        .take(4)
        .map(|(comm, ticks)| format!("{comm} {ticks}"))
        .collect::<Vec<_>>()
        .join(", ");
    (
        100.0 * (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64,
        top,
    )
}

fn measure(kind: &Kind, pods: usize, parallel: usize, deadline: Instant, dir: &Path) -> Figures {
    let node = Node::start_large(Version::V2_1);
    match kind.handler {
        "spin" => node.import(&images::spin_artifact("hello", kind.image, dir)),
        _ => node.import(&images::busybox_image(
            &[("www/index.html", b"Hello from busybox!\n".to_vec())],
            &["/bin/busybox", "httpd", "-f"],
            kind.image,
            dir,
        )),
    }
    // The image has run once on this node (precompiled, unpacked), as on a node in use.
    let (warm, _, _) = start_pod(&node, kind, "warm-up").expect("the warm-up pod");
    node.remove_pod(&warm.id);
    std::thread::sleep(Duration::from_secs(2));
    let before_objects = node_objects();
    let mem_before = Memory::now();
    let containerd_before = pss_kib(node.containerd().pid());

    let mut figures = Figures::default();
    let started: Mutex<Vec<(Pod, String, PodStart)>> = Mutex::default();
    let failed: Mutex<Vec<String>> = Mutex::default();
    let began = Instant::now();
    // Two phases: up to IDLE_PODS, measure idle CPU, then the rest.
    let phases = [pods.min(IDLE_PODS), pods];
    let next = AtomicUsize::new(0);
    for (phase, &until) in phases.iter().enumerate() {
        std::thread::scope(|s| {
            for _ in 0..parallel {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= until || Instant::now() > deadline {
                            // Leave the counter where this phase ends.
                            next.fetch_min(until, Ordering::SeqCst);
                            return;
                        }
                        match start_pod(&node, kind, &format!("pod-{i}")) {
                            Ok(done) => started.lock().unwrap().push(done),
                            Err(e) => failed.lock().unwrap().push(e),
                        }
                    }
                });
            }
        });
        if phase == 0 && until == IDLE_PODS && failed.lock().unwrap().is_empty() {
            // Let containerd finish with the start-up burst first.
            std::thread::sleep(Duration::from_secs(10));
            let (percent, top) = cpu_busy_percent(IDLE_SECONDS);
            figures.idle_cpu_percent = Some(percent);
            figures.idle_cpu_top = top;
        }
    }
    figures.all_started = began.elapsed();
    let started = started.into_inner().unwrap();
    figures.started = started.len();
    figures.failed = failed.into_inner().unwrap();

    // Every pod answers still (none died after its first 200).
    for (pod, container, _) in &started {
        match still_answering(&node, pod, container) {
            Ok(()) => {}
            Err(None) => figures.second_try += 1,
            Err(Some(failure)) => figures.failed.push(failure),
        }
    }
    // What kubelet's summary (metrics-server, the eviction manager) asks of every container.
    let stats_began = Instant::now();
    figures.stats_containers = node.list_container_stats().len();
    figures.stats_round = stats_began.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    (figures.mem_per_pod_mib, figures.kernel_per_pod_mib) =
        mem_before.per_pod_mib(&Memory::now(), started.len());
    figures.containerd_per_pod_mib = (pss_kib(node.containerd().pid()) as f64
        - containerd_before as f64)
        / 1024.0
        / started.len().max(1) as f64;
    let shims = processes_of(&node, kind.shim);
    figures.shim_processes = shims.len();
    figures.shim_pss_per_pod_mib = shims.iter().map(|pid| pss_kib(*pid)).sum::<u64>() as f64
        / 1024.0
        / started.len().max(1) as f64;
    let sorted = |step: fn(&PodStart) -> Duration| {
        let mut times: Vec<Duration> = started.iter().map(|(_, _, t)| step(t)).collect();
        times.sort();
        times
    };
    let total = sorted(|t| t.total);
    figures.start_p50 = percentile(&total, 0.5);
    figures.start_p99 = percentile(&total, 0.99);
    figures.steps_p50 = [
        percentile(&sorted(|t| t.sandbox), 0.5),
        percentile(&sorted(|t| t.container), 0.5),
        percentile(&sorted(|t| t.answer), 0.5),
    ];

    let teardown = Instant::now();
    std::thread::scope(|s| {
        for chunk in started.chunks(started.len().div_ceil(parallel).max(1)) {
            let node = &node;
            s.spawn(move || {
                for (pod, _, _) in chunk {
                    node.remove_pod(&pod.id);
                }
            });
        }
    });
    figures.teardown = teardown.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let left_processes = processes_of(&node, kind.shim).len();
    if left_processes > 0 {
        figures
            .left
            .push(format!("{left_processes} {} processes", kind.shim));
    }
    let left_mounts = node
        .containerd()
        .mounts()
        .into_iter()
        .filter(|m| !m.contains("io.containerd.content"))
        .count();
    if left_mounts > 0 {
        figures.left.push(format!("{left_mounts} mounts"));
    }
    figures.left.extend(
        node_objects()
            .difference(&before_objects)
            .map(String::to_string),
    );
    figures
}

/// The kernel's neighbour (ARP) table is one for all network namespaces: every pod's namespace
/// holds an entry for its gateway and the host one for each pod it talks to, and above
/// `gc_thresh3` (1,024 by default) new entries are refused, so the host stops reaching pods.
/// Nodes built for many pods raise it; so does this benchmark for its run (only upwards), and
/// puts the old values back when it ends.
struct NeighbourTable {
    old: Vec<(String, String)>,
}

impl NeighbourTable {
    const DIR: &str = "/proc/sys/net/ipv4/neigh/default";

    fn sized_for(pods: usize) -> Self {
        let mut old = Vec::new();
        // Two entries a pod, room for the rest of the machine, and the GC's two lower marks
        // below the limit as the kernel's defaults have them (1/8 and 1/2).
        let limit = 4 * pods + 1024;
        for (name, wanted) in [
            ("gc_thresh1", limit / 8),
            ("gc_thresh2", limit / 2),
            ("gc_thresh3", limit),
        ] {
            let path = format!("{}/{name}", Self::DIR);
            let Ok(current) = std::fs::read_to_string(&path) else {
                continue;
            };
            if current.trim().parse::<usize>().is_ok_and(|c| c < wanted)
                && std::fs::write(&path, wanted.to_string()).is_ok()
            {
                old.push((path, current));
            }
        }
        Self { old }
    }
}

impl Drop for NeighbourTable {
    fn drop(&mut self) {
        for (path, value) in self.old.iter().rev() {
            let _ = std::fs::write(path, value.trim());
        }
    }
}

fn main() {
    apps::ensure_built();
    let pods = env_or("DENSITY_PODS", 200) as usize;
    let _neighbours = NeighbourTable::sized_for(pods);
    let parallel = env_or("DENSITY_PARALLEL", 8) as usize;
    let budget = Duration::from_secs(env_or("DENSITY_DEADLINE_SECS", 900));
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let mut rows = Vec::new();
    for kind in [&SPIN, &RUNC] {
        // Each kind gets 45 % of the budget; the rest is for the pods' kernel objects below.
        let deadline = Instant::now() + budget * 9 / 20;
        eprintln!("density: {} x {pods}", kind.name);
        let figures = measure(kind, pods, parallel, deadline, dir.path());
        eprintln!(
            "density: {}: {} started, {} failed",
            kind.name,
            figures.started,
            figures.failed.len()
        );
        rows.push((kind, figures));
    }
    // Last: freeing a thousand network namespaces keeps the kernel's workers busy for a while,
    // which would show in the next kind's idle CPU.
    eprintln!("density: the kernel's part of a pod x {pods}");
    let floor = pod_floor::measure(pods, parallel, dir.path(), began + budget);

    let mut table = format!(
        "## Density through CRI: {pods} pods, {parallel} started at a time (containerd 2.1)\n\n\
         Measured by `make bench-density` ({}). Memory per pod is the drop of MemAvailable \
         divided by the pods (shims, pause, network namespaces, cgroups: everything).\n\n\
         | per pod | {} | {} |\n|---|---:|---:|\n",
        report::machine(),
        rows[0].0.name,
        rows[1].0.name
    );
    let row = |label: &str, f: &dyn Fn(&Figures) -> String| {
        format!("| {label} | {} | {} |\n", f(&rows[0].1), f(&rows[1].1))
    };
    table += &row(
        "pods started (failed or stopped answering; answered the final check on a second try)",
        &|f| format!("{} ({}; {})", f.started, f.failed.len(), f.second_try),
    );
    table += &row("memory per pod, MiB", &|f| {
        format!("{:.1}", f.mem_per_pod_mib)
    });
    table += &row("PSS of the shim binary's processes per pod, MiB", &|f| {
        format!("{:.1}", f.shim_pss_per_pod_mib)
    });
    table += &row(
        "the kernel's unreclaimable memory (slab, per-CPU, page tables, stacks) per pod, MiB",
        &|f| format!("{:.1}", f.kernel_per_pod_mib),
    );
    table += &row("containerd's PSS growth per pod, MiB", &|f| {
        format!("{:.1}", f.containerd_per_pod_mib)
    });
    table += &row("processes of the shim binary per pod", &|f| {
        format!("{:.2}", f.shim_processes as f64 / f.started.max(1) as f64)
    });
    table += &row("pod start p50 / p99, ms", &|f| {
        format!("{} / {}", f.start_p50.as_millis(), f.start_p99.as_millis())
    });
    table += &row(
        "pod start p50 by step: RunPodSandbox / Create+StartContainer / to first 200, ms",
        &|f| {
            let [sandbox, container, answer] = f.steps_p50.map(|d| d.as_millis());
            format!("{sandbox} / {container} / {answer}")
        },
    );
    table += &row("all pods started, s", &|f| {
        format!("{:.1}", f.all_started.as_secs_f64())
    });
    table += &row(
        &format!("CPU with {IDLE_PODS} idle pods, % of the machine"),
        &|f| {
            f.idle_cpu_percent
                .map_or("not measured".into(), |c| format!("{c:.1}"))
        },
    );
    table += &row(
        "ListContainerStats of all pods (kubelet's summary), ms (containers)",
        &|f| format!("{} ({})", f.stats_round.as_millis(), f.stats_containers),
    );
    table += &row("teardown of all pods, s", &|f| {
        format!("{:.1}", f.teardown.as_secs_f64())
    });
    table += &row("left after teardown", &|f| {
        if f.left.is_empty() {
            "nothing".into()
        } else {
            f.left.join(", ")
        }
    });
    let half_runc = rows[1].1.mem_per_pod_mib / 2.0;
    table += &format!(
        "\n- What any pod costs the kernel before a process of it runs, made {} times by the same \
         CNI plugins (a network namespace, a veth pair on a bridge with an address, loopback, a \
         cgroup for the sandbox and one for the container in each hierarchy, a shm tmpfs): \
         MemAvailable {:.2} MiB per pod, the kernel's unreclaimable memory {:.2} MiB per pod. \
         Half a runc pod in this run is {half_runc:.1} MiB.",
        floor.pods, floor.mem_per_pod_mib, floor.kernel_per_pod_mib,
    );
    for error in floor.errors.iter().take(5) {
        table += &format!("\n- the kernel's part: {error}");
    }
    for (kind, figures) in &rows {
        if !figures.idle_cpu_top.is_empty() {
            table += &format!(
                "\n- {}: CPU ticks ({IDLE_SECONDS} s, 100 per second per core) while idle: {}",
                kind.name, figures.idle_cpu_top
            );
        }
        for failure in figures.failed.iter().take(5) {
            table += &format!("\n- {}: {failure}", kind.name);
        }
    }
    let path = report::write_section(&format!("density-{pods}"), &table);
    println!("{table}\nwritten to {}", path.display());
}
