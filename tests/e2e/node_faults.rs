//! What a node operator trusts containerd and runc for, kept by Spin tasks: containerd restarted
//! (SIGTERM, then SIGKILL) under serving tasks, a shim daemon or a server process SIGKILLed,
//! and containerd killed together with every shim. Each on containerd 1.7 and 2.1, each ending
//! with the node holding nothing of its tasks: no process, mount, cgroup or lease.
//!
//! These tests start containerd, so they need root (CI runs as root).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spinrt_tests::containerd::{Containerd, Version, alive, kill9, unique_id};
use spinrt_tests::images;
use spinrt_tests::net::{Prober, blocking_get};

const IMAGE: &str = "localhost/hello:v1";

/// A private containerd with the hello app imported.
fn containerd_with_hello(version: Version) -> Containerd {
    let ctd = Containerd::start(version);
    let tar = images::spin_artifact("hello", IMAGE, ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    ctd
}

/// The pid of task `id` (its server process), if containerd lists it.
fn task_pid(ctd: &Containerd, id: &str) -> Option<u32> {
    ctd.task_pid("default", id)
}

/// Waits until task `id` runs no more: containerd lists it STOPPED, or not at all (it deleted
/// the task of a shim that died).
fn wait_until_not_running(ctd: &Containerd, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while ctd
        .tasks()
        .iter()
        .any(|(t, _, s)| t == id && s != "STOPPED")
    {
        assert!(
            Instant::now() < deadline,
            "task {id} still runs: {:?}\n{}",
            ctd.tasks(),
            ctd.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn containerd_restarts_under_serving_tasks(version: Version) {
    let mut ctd = containerd_with_hello(version);
    let leases = ctd.leases("default");
    let (a, b, c) = (unique_id("a"), unique_id("b"), unique_id("c"));
    let addrs: Vec<SocketAddr> = [&a, &b, &c]
        .iter()
        .map(|id| ctd.run_detached(IMAGE, id, &[]))
        .collect();
    let pids: Vec<u32> = [&a, &b, &c]
        .iter()
        .map(|id| task_pid(&ctd, id).expect("a running task"))
        .collect();
    let prober = Prober::start(addrs[..2].to_vec(), Duration::from_secs(120));

    for signal in ["TERM", "KILL"] {
        std::thread::sleep(Duration::from_millis(300));
        ctd.restart(signal);
        // The restarted containerd finds every task where it was.
        for (id, pid) in [&a, &b, &c].iter().zip(&pids) {
            assert!(
                ctd.tasks()
                    .iter()
                    .any(|(t, p, s)| t == *id && *p == pid.to_string() && s == "RUNNING"),
                "after SIG{signal}: task {id} ({pid}) is not RUNNING: {:?}\n{}",
                ctd.tasks(),
                ctd.log()
            );
        }
    }

    // A task that ends while containerd is down is STOPPED, with its status, once it is back.
    ctd.stop_daemon("TERM");
    kill9(pids[2]);
    ctd.start_daemon();
    assert!(
        ctd.wait_for_status(&c, "STOPPED", Duration::from_secs(10)),
        "task {c} ended while containerd was down, and is listed as {:?}",
        ctd.tasks()
    );
    // Its TaskExit reaches containerd once containerd is back (CRI learns of exits from it).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ctd.log().contains("published /tasks/exit on retry") {
        assert!(
            Instant::now() < deadline,
            "the TaskExit of {c} never reached containerd\n{}",
            ctd.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let deleted = ctd.delete_once_stopped(&c);
    assert!(deleted.contains("137"), "exit status of {c}: {deleted}");

    let report = prober.stop();
    assert!(
        report.failures.is_empty() && report.answered > 20,
        "while containerd restarted twice, the tasks answered {} requests and failed {:?}",
        report.answered,
        report.failures
    );
    assert_eq!(
        blocking_get(addrs[0], "/"),
        (200, "Hello from Spin!\n".into())
    );

    // Stop, kill and delete still work through the restarted containerd.
    let stopped = ctd.stop(&a);
    assert!(!stopped.contains("non-zero exit"), "{stopped}");
    ctd.ctr_ok(&["task", "kill", "--signal", "SIGKILL", &b]);
    let killed = ctd.delete_once_stopped(&b);
    assert!(killed.contains("137"), "exit status of {b}: {killed}");
    ctd.assert_nothing_left("node", &[&a, &b, &c], &leases);
}

#[test]
fn tasks_keep_serving_while_containerd_1_7_restarts() {
    containerd_restarts_under_serving_tasks(Version::V1_7);
}

#[test]
fn tasks_keep_serving_while_containerd_2_1_restarts() {
    containerd_restarts_under_serving_tasks(Version::V2_1);
}

fn killed_shim_processes(version: Version) {
    let ctd = containerd_with_hello(version);
    let leases = ctd.leases("default");
    let (a, b) = (unique_id("daemon"), unique_id("server"));
    let addr_a = ctd.run_detached(IMAGE, &a, &[]);
    let addr_b = ctd.run_detached(IMAGE, &b, &[]);

    // The shim daemon of `a` killed: containerd sees the task end and cleans up after the
    // shim, its server process included.
    let server_a = task_pid(&ctd, &a).unwrap();
    let daemon_a = ctd.shim_daemon_of(&a).expect("the shim daemon of a task");
    kill9(daemon_a);
    wait_until_not_running(&ctd, &a);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(server_a) {
        assert!(
            Instant::now() < deadline,
            "the server of {a} outlived its shim daemon by 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::net::TcpStream::connect_timeout(&addr_a, Duration::from_secs(1)).is_err(),
        "{a} still listens"
    );
    let _ = ctd.ctr(&["task", "delete", &a]);
    ctd.ctr_ok(&["container", "delete", &a]);

    // The server process of `b` killed: its daemon reports the exit, with status 137.
    assert_eq!(
        blocking_get(addr_b, "/"),
        (200, "Hello from Spin!\n".into())
    );
    kill9(task_pid(&ctd, &b).unwrap());
    assert!(
        ctd.wait_for_status(&b, "STOPPED", Duration::from_secs(10)),
        "{b} is listed as {:?} after its server was killed",
        ctd.tasks()
    );
    let deleted = ctd.delete_once_stopped(&b);
    assert!(deleted.contains("137"), "exit status of {b}: {deleted}");
    ctd.assert_nothing_left("node", &[&a, &b], &leases);
}

#[test]
fn killed_shim_processes_under_containerd_1_7_leave_nothing() {
    killed_shim_processes(Version::V1_7);
}

#[test]
fn killed_shim_processes_under_containerd_2_1_leave_nothing() {
    killed_shim_processes(Version::V2_1);
}

fn everything_killed_at_once(version: Version) {
    let mut ctd = containerd_with_hello(version);
    let leases = ctd.leases("default");
    let ids = [unique_id("all1"), unique_id("all2")];
    for id in &ids {
        ctd.run_detached(IMAGE, id, &[]);
    }
    // What a node's OOM killer or a `kill -9` of the service's cgroup does.
    ctd.stop_daemon("KILL");
    for pid in ctd.shim_processes() {
        kill9(pid);
    }
    ctd.start_daemon();

    // containerd cleans up after the dead shims by itself; what remains is for a client to
    // delete, as after any exit.
    for id in &ids {
        wait_until_not_running(&ctd, id);
        let _ = ctd.ctr(&["task", "delete", id]);
        ctd.ctr_ok(&["container", "delete", id]);
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    ctd.assert_nothing_left("node", &ids, &leases);

    // And the node runs the image again.
    let id = unique_id("again");
    let addr = ctd.run_detached(IMAGE, &id, &[]);
    assert_eq!(blocking_get(addr, "/"), (200, "Hello from Spin!\n".into()));
    ctd.stop(&id);
}

#[test]
fn everything_killed_at_once_under_containerd_1_7_is_cleaned_up_at_restart() {
    everything_killed_at_once(Version::V1_7);
}

#[test]
fn everything_killed_at_once_under_containerd_2_1_is_cleaned_up_at_restart() {
    everything_killed_at_once(Version::V2_1);
}
