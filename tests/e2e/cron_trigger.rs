//! The cron trigger: the `cron` test app (a component bound with wit-bindgen against the cron
//! plugin's WIT) on two schedules beside an HTTP component. `tick` runs every second; `slow`
//! every 2 s but holds 2.5 s, so its next time is skipped, never overlapped. Each run prints
//! its scheduled second and the guest's clock: every run must start within a second of its
//! time. Through `spinrt up` and through containerd 2.1 (the task's log file).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use spinrt_tests::bins::{bin, up_refuses};
use spinrt_tests::containerd::{Containerd, Version, unique_id};
use spinrt_tests::net::blocking_get as get;
use spinrt_tests::{apps, images};

/// (label, scheduled second, guest clock in ms or `None` for a `done` line), in output order.
fn runs(output: &str) -> Vec<(String, u64, Option<u64>)> {
    output
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("cron ")?;
            let (label, rest) = rest.split_once(": scheduled ")?;
            if let Some(t) = rest.strip_suffix(" done") {
                return Some((label.to_string(), t.parse().ok()?, None));
            }
            let (t, ran) = rest.split_once(", ran at ")?;
            let ran = ran.strip_suffix(" ms")?.parse().ok()?;
            Some((label.to_string(), t.parse().ok()?, Some(ran)))
        })
        .collect()
}

/// Waits until `slow` has run three times, then checks both schedules.
fn check_schedules(read: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let starts = runs(&read())
            .iter()
            .filter(|(l, _, ran)| l == "slow" && ran.is_some())
            .count();
        if starts >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slow never ran 3 times:\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = read();
    let runs = runs(&output);
    for (label, t, ran) in &runs {
        if let Some(ran) = ran {
            let late = ran.saturating_sub(t * 1000);
            assert!(
                *ran >= t * 1000 && late < 1000,
                "{label} for {t} ran {late} ms after its time:\n{output}"
            );
        }
    }
    let ticks: Vec<u64> = runs
        .iter()
        .filter(|(l, _, ran)| l == "tick" && ran.is_some())
        .map(|(_, t, _)| *t)
        .collect();
    assert!(ticks.len() >= 5, "{output}");
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "tick missed or repeated a second: {ticks:?}"
    );
    // slow: even seconds, each run done before the next starts, which is the time after the
    // one its 2.5 s run overran.
    let slow: Vec<_> = runs.iter().filter(|(l, _, _)| l == "slow").collect();
    let starts: Vec<u64> = slow
        .iter()
        .filter(|(_, _, ran)| ran.is_some())
        .map(|(_, t, _)| *t)
        .collect();
    assert!(starts.iter().all(|t| t % 2 == 0), "{starts:?}");
    assert!(
        starts.windows(2).all(|w| w[1] == w[0] + 4),
        "slow runs overlapped or missed: {starts:?}\n{output}"
    );
    for pair in slow.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        if first.2.is_some() {
            assert!(
                second.2.is_none() && second.1 == first.1,
                "slow started {} before the run for {} was done:\n{output}",
                second.1,
                first.1
            );
        }
    }
}

#[test]
fn cron_schedules_run_on_time_and_never_overlap_through_spinrt_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("up.log");
    let port = spinrt_tests::net::free_port();
    // The guests' stdout is what the test reads; `Up` discards it.
    let mut up = Command::new(bin("spinrt"))
        .args([
            "up",
            "--no-cache",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--from",
        ])
        .arg(apps::manifest_dir("cron"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        spinrt_tests::net::wait_for_listener(addr, Duration::from_secs(90)),
        "spinrt up never listened"
    );
    assert_eq!(get(addr, "/"), (200, "Hello from Spin!\n".into()));
    check_schedules(|| std::fs::read_to_string(&log).unwrap_or_default());
    Command::new("kill")
        .args(["-TERM", &up.id().to_string()])
        .status()
        .unwrap();
    let status = up.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_cron_expression_that_is_no_schedule_fails_the_app() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spin.toml"),
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"bad\"\n\
             [[trigger.cron]]\nid = \"nightly\"\ncomponent = \"c\"\ncron_expression = \"0 3 * * *\"\n\
             [component.c]\nsource = \"{}\"\n",
            apps::wasm("wasm32-wasip2", "cron").display()
        ),
    )
    .unwrap();
    let err = up_refuses(dir.path());
    assert!(
        err.contains("cron trigger 'nightly': cron_expression '0 3 * * *' is not a schedule"),
        "{err}"
    );
    assert!(err.contains("it takes seconds"), "{err}");
}

#[test]
fn cron_trigger_under_containerd_2_1() {
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::spin_artifact("cron", "localhost/cron:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("cron");
    let log = ctd.dir().join("cron-task.log");
    let log_uri = format!("file://{}", log.display());
    let addr = ctd.run_detached("localhost/cron:v1", &id, &["--log-uri", &log_uri]);
    assert_eq!(get(addr, "/"), (200, "Hello from Spin!\n".into()));
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    check_schedules(|| read(&log));
    let stopped = ctd.stop(&id);
    assert!(!stopped.contains("non-zero exit"), "{stopped}");
}
