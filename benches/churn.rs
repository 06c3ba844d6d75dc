//! `make bench-churn`: pod churn as CronJobs cause it, through CRI as kubelet drives a node.
//! containerd itself has leaked shims this way; a node must come back to where it started.
//!
//! On a private containerd 2.1 with CNI bridge networking: `CHURN_CYCLES` (default 2,000)
//! cycles, `CHURN_PARALLEL` (8) at a time, of RunPodSandbox (handler `spin`), CreateContainer +
//! StartContainer, then StopPodSandbox + RemovePodSandbox. Every `CHURN_BAD_EVERY`th (5th)
//! cycle runs an app that fails to start (its locked app names a component it lacks): its
//! container must exit non-zero (or StartContainer fail with the reason); every other one must
//! answer `GET /` with 200 on its pod IP. Afterwards the node is compared with where it started: processes of the shim,
//! mounts, network namespaces, pod cgroups, content-store leases, pod addresses, and memory
//! (MemAvailable, and containerd's own RSS). The table goes into `benches/RESULTS.md`.
//!
//! Bounded: no cycle starts after `CHURN_DEADLINE_SECS` (default 900), and the node harness
//! tears everything down through CRI, then by process id, on its drop.

mod node_state;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spinrt_tests::containerd::Version;
use spinrt_tests::cri::{ContainerSpec, NAMESPACE, Node};
use spinrt_tests::{apps, images, report};

use node_state::{
    env_or, get_status, mem_available_kib, node_objects, percentile, processes_of, rss_kib,
};

const GOOD: &str = "localhost/hello:v1";
const BAD: &str = "localhost/hello-broken:v1";
const SHIM: &str = "containerd-shim-spin-v2";
/// How long one good pod may take to answer.
const POD_TIMEOUT: Duration = Duration::from_secs(60);

/// One cycle: a pod up (answering, or failing to start as it must) and removed; how long it
/// took, or what went wrong.
fn cycle(node: &Node, i: usize, bad: bool) -> Result<Duration, String> {
    let start = Instant::now();
    let pod = node.run_pod(&format!("churn-{i}"));
    let spec = ContainerSpec {
        name: "app",
        image: if bad { BAD } else { GOOD },
        command: &["/"],
        memory_limit_bytes: 128 << 20,
    };
    let outcome = match (node.try_start_container(&pod, spec), bad) {
        (Err(e), true) if e.contains("ghost") => Ok(()),
        (Err(e), true) => Err(format!(
            "cycle {i}: the bad app failed without its reason: {e}"
        )),
        // The server finds what is wrong as it loads the app, after StartContainer: the
        // container exits non-zero, as a crashing Linux container does.
        (Ok(id), true) => loop {
            let status = node.container_status(&id);
            if status.state == k8s_cri::v1::ContainerState::ContainerExited as i32 {
                break if status.exit_code != 0 {
                    Ok(())
                } else {
                    Err(format!("cycle {i}: the bad app exited 0"))
                };
            }
            if start.elapsed() > POD_TIMEOUT {
                break Err(format!("cycle {i}: the bad app still runs"));
            }
            std::thread::sleep(Duration::from_millis(20));
        },
        (Err(e), false) => Err(format!("cycle {i}: {e}")),
        (Ok(_), false) => {
            let answered = loop {
                if get_status(&pod.ip) == Some(200) {
                    break true;
                }
                if start.elapsed() > POD_TIMEOUT {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            if answered {
                Ok(())
            } else {
                Err(format!(
                    "cycle {i}: no 200 from {} in {POD_TIMEOUT:?}",
                    pod.ip
                ))
            }
        }
    };
    node.try_remove_pod(&pod.id)
        .map_err(|e| format!("cycle {i}: removing the pod: {e}"))?;
    outcome.map(|()| start.elapsed())
}

/// What the node holds that a finished pod could leave behind.
#[derive(Debug, PartialEq)]
struct Holdings {
    shim_processes: usize,
    mounts: usize,
    objects: std::collections::BTreeSet<String>,
    leases: usize,
    addresses: usize,
    pods: usize,
}

fn holdings(node: &Node) -> Holdings {
    let ctd = node.containerd();
    Holdings {
        shim_processes: processes_of(node, SHIM).len(),
        mounts: ctd
            .mounts()
            .into_iter()
            .filter(|m| !m.contains("io.containerd.content"))
            .count(),
        objects: node_objects(),
        leases: ctd.leases(NAMESPACE).len(),
        addresses: node.addresses_in_use().len(),
        pods: node.pods().len(),
    }
}

fn main() {
    apps::ensure_built();
    let cycles = env_or("CHURN_CYCLES", 2000) as usize;
    let parallel = env_or("CHURN_PARALLEL", 8) as usize;
    let bad_every = env_or("CHURN_BAD_EVERY", 5).max(1) as usize;
    let deadline = Instant::now() + Duration::from_secs(env_or("CHURN_DEADLINE_SECS", 900));
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(Version::V2_1);
    node.import(&images::spin_artifact("hello", GOOD, dir.path()));
    node.import(&images::spin_artifact_with_locked_app(
        "hello",
        BAD,
        dir.path(),
        |l| l["triggers"][0]["trigger_config"]["component"] = "ghost".into(),
    ));
    let containerd_pid = processes_of(&node, "containerd")
        .into_iter()
        .find(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe.ends_with("containerd"))
        })
        .expect("the node's containerd");
    // Warm: the image compiled, containerd's caches filled, as on a node in use.
    for i in 0..parallel {
        cycle(&node, usize::MAX - i, false).expect("a warm-up cycle");
    }
    std::thread::sleep(Duration::from_secs(3));
    let before = holdings(&node);
    let mem_before = mem_available_kib();
    let rss_before = rss_kib(containerd_pid);

    let next = AtomicUsize::new(0);
    let times: Mutex<Vec<Duration>> = Mutex::default();
    let failures: Mutex<Vec<String>> = Mutex::default();
    let began = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= cycles || Instant::now() > deadline {
                        return;
                    }
                    match cycle(&node, i, i % bad_every == bad_every - 1) {
                        Ok(t) => times.lock().unwrap().push(t),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            });
        }
    });
    let took = began.elapsed();
    let done = next.load(Ordering::SeqCst).min(cycles);
    std::thread::sleep(Duration::from_secs(5));
    let after = holdings(&node);
    let mem_after = mem_available_kib();
    let rss_after = rss_kib(containerd_pid);
    let mut times = times.into_inner().unwrap();
    times.sort();
    let failures = failures.into_inner().unwrap();

    let left: Vec<String> = after
        .objects
        .difference(&before.objects)
        .cloned()
        .chain(
            [
                (
                    "shim processes",
                    before.shim_processes,
                    after.shim_processes,
                ),
                ("mounts", before.mounts, after.mounts),
                ("leases", before.leases, after.leases),
                ("pod addresses", before.addresses, after.addresses),
                ("pods", before.pods, after.pods),
            ]
            .into_iter()
            .filter(|(_, b, a)| a > b)
            .map(|(what, b, a)| format!("{} {what}", a - b)),
        )
        .collect();
    let mib = |kib: i64| kib as f64 / 1024.0;
    let mut table = format!(
        "## Pod churn through CRI: {done} cycles, {parallel} at a time, every {bad_every}th \
         app failing to start (containerd 2.1)\n\n\
         Measured by `make bench-churn` ({}).\n\n| | |\n|---|---:|\n",
        report::machine()
    );
    table += &format!("| cycles done (of {cycles}) | {done} |\n");
    table += &format!(
        "| cycles as expected / not | {} / {} |\n",
        times.len(),
        failures.len()
    );
    table += &format!(
        "| cycle (RunPodSandbox to removed) p50 / p99, ms | {} / {} |\n",
        percentile(&times, 0.5).as_millis(),
        percentile(&times, 0.99).as_millis()
    );
    table += &format!(
        "| cycles per second | {:.1} |\n",
        done as f64 / took.as_secs_f64()
    );
    table += &format!(
        "| MemAvailable after - before, MiB | {:+.1} |\n",
        mib(mem_after as i64 - mem_before as i64)
    );
    table += &format!(
        "| containerd's RSS before / after, MiB | {:.1} / {:.1} |\n",
        mib(rss_before as i64),
        mib(rss_after as i64)
    );
    table += &format!(
        "| left after the run | {} |\n",
        if left.is_empty() {
            "nothing".to_string()
        } else {
            left.join(", ")
        }
    );
    for failure in failures.iter().take(5) {
        table += &format!("\n- {failure}");
    }
    let path = report::write_section("churn", &table);
    println!("{table}\nwritten to {}", path.display());
}
