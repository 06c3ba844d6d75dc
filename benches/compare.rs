//! `make bench-compare`: one table, measured in one run on this machine, of our Spin runtime
//! against what users would otherwise run. Writes its section of `benches/RESULTS.md`.
//!
//! - throughput and latency of the same echo component under `spinrt up`, under containerd
//!   and our shim (a pod's confined server), and under `wasmtime serve` at its best setting
//!   (pooling allocator with memory kept resident, as we run; instances reused for WASI 0.3,
//!   its default there), as a WASI 0.2 (spin-sdk 3) and a WASI 0.3 (spin-sdk 7) build, and of
//!   a native hyper server; `wrk`, fixed connections and duration;
//! - what observability costs: the WASI 0.2 echo with nothing on, metrics on, traces exported
//!   over OTLP, and traces and metrics exported, alternated; CPU per request of the server and
//!   of the OTLP receiver apart;
//! - `ctr run` to first HTTP 200: our shim (a Spin artifact and a plain image, each the first
//!   time and once compiled) against runc running busybox's httpd;
//! - resident memory of one idle shim task, and of 50 tasks at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spinrt_tests::bins::Up;
use spinrt_tests::containerd::{Containerd, RUNTIME, Version, unique_id};
use spinrt_tests::{apps, images, net};

const CONNECTIONS: u32 = 32;
const DURATION_SECS: u32 = 10;
const WASMTIME: &str = ".tools/wasmtime-cli-48.0.8/bin/wasmtime";
const TASKS: usize = 50;
/// Rounds of alternated loads (each server loaded once per round), medians.
const ROUNDS: usize = 3;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Load {
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `wrk` against `addr`; its "Requests/sec" and latency percentiles.
fn load(addr: SocketAddr) -> Load {
    load_with(addr, &[])
}

/// [`load`], each request with `headers` (`name: value`).
fn load_with(addr: SocketAddr, headers: &[String]) -> Load {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{DURATION_SECS}s"),
            "--latency",
        ])
        .args(headers.iter().flat_map(|h| ["-H", h.as_str()]))
        .arg(format!("http://{addr}/"))
        .output()
        .expect("running wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no '{prefix}' in wrk output:\n{text}"))
    };
    assert!(!text.contains("Non-2xx"), "errors under load:\n{text}");
    // "123456 requests in 10.00s, 12.34MB read"
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{text}"));
    Load {
        requests,
        rps: field("Requests/sec:").parse().unwrap(),
        p50_ms: millis(&field("50%")),
        p99_ms: millis(&field("99%")),
    }
}

/// wrk's `1.23ms` / `456.00us` / `1.2s`.
fn millis(value: &str) -> f64 {
    let split = value.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = value.split_at(split);
    let n: f64 = n.parse().unwrap();
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        other => panic!("unit {other}"),
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd ADDR TAIL...` on a free loopback port and waits until it listens.
fn spawn_listening(mut cmd: Command, tail: &[&std::ffi::OsStr]) -> (Killed, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", net::free_port()).parse().unwrap();
    let child = cmd
        .arg(addr.to_string())
        .args(tail)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        net::wait_for_listener(addr, Duration::from_secs(60)),
        "{cmd:?} never listened"
    );
    (Killed(child), addr)
}

/// `wasmtime serve` as fast as it goes for us: the pooling allocator keeping as much memory
/// resident as ours does (its default is neither).
const WASMTIME_TUNED: &str =
    "pooling-allocator=y,pooling-memory-keep-resident=16777216,pooling-table-keep-resident=1048576";

/// The echo, built for WASI 0.2 and 0.3, under each server: ours (`spinrt up`, and the
/// confined server a pod runs under containerd), `wasmtime serve` at its best setting, loaded
/// in turn for [`ROUNDS`] rounds, medians: this shared machine's speed drifts by a fifth
/// within minutes, so only figures taken side by side compare. Then a native hyper server.
///
/// The echo writes back the `spin-*` headers a Spin runtime gives it, which `wasmtime serve`
/// does not add: its requests carry the ones ours added (as the echo reported them), so both
/// guests do the same work and write the same response.
fn throughput(dir: &Path, ctd: &Containerd) -> Vec<(String, Option<Load>)> {
    let mut rows = Vec::new();
    let wasmtime = repo().join(WASMTIME);
    // The same echo, built for WASI 0.2 (spin-sdk 3) and WASI 0.3 (spin-sdk 7).
    for (app, wasi, wasmtime_flags) in [
        ("echo", "0.2", &[][..]),
        (
            "echo7",
            "0.3",
            &["-W", "component-model-async=y", "-S", "p3=y"][..],
        ),
    ] {
        let args = ["--cache-dir", dir.join("cache").to_str().unwrap()].map(str::to_string);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ours = Up::start(
            apps::manifest_dir(app),
            &args,
            &dir.join(format!("{app}.log")),
        );
        assert_eq!(net::blocking_get(ours.addr, "/").0, 200);

        let image = format!("localhost/{app}:v1");
        let artifact = images::spin_artifact(app, &image, dir);
        ctd.ctr_ok(&[
            "images",
            "import",
            "--all-platforms",
            artifact.to_str().unwrap(),
        ]);
        let (task, task_addr) = run_spin(ctd, &image);
        assert!(
            net::wait_for_listener(task_addr, Duration::from_secs(60)),
            "{image} never listened under the shim"
        );
        assert_eq!(net::blocking_get(task_addr, "/").0, 200);

        let peer = wasmtime.is_file().then(|| {
            let mut cmd = Command::new(&wasmtime);
            cmd.args(["serve", "-S", "cli", "-O", WASMTIME_TUNED])
                .args(wasmtime_flags)
                .arg("--addr");
            let wasm = apps::wasm("wasm32-wasip2", app);
            spawn_listening(cmd, &[wasm.as_os_str()])
        });

        let spin_headers: Vec<String> = net::blocking_get(ours.addr, "/")
            .1
            .lines()
            .filter(|l| l.starts_with("spin-"))
            .map(str::to_string)
            .collect();
        assert!(
            !spin_headers.is_empty(),
            "the echo reported no spin-* header"
        );
        let mut servers = vec![(ours.addr, vec![]), (task_addr, vec![])];
        servers.extend(peer.as_ref().map(|(_, addr)| (*addr, spin_headers.clone())));
        let mut loads = alternated(&servers).into_iter();
        let label = |server: &str| format!("`{app}` (WASI {wasi}), {server}");
        rows.push((label("spinrt up (this project)"), loads.next()));
        rows.push((
            label("containerd 2.1 + our shim (`ctr run`: the confined server)"),
            loads.next(),
        ));
        rows.push((
            label(&format!(
                "wasmtime serve 48.0.8 `-O {WASMTIME_TUNED}`, given our `spin-*` headers"
            )),
            loads.next(),
        ));
        remove_task(ctd, &task);
    }

    let native = spinrt_tests::bins::bin("native-hello");
    let (server, addr) = spawn_listening(Command::new(native), &[]);
    rows.push(("native hyper hello".into(), Some(load(addr))));
    drop(server);
    rows
}

/// Each of `servers` loaded in turn (with its request headers), [`ROUNDS`] times: the median
/// load of each.
fn alternated(servers: &[(SocketAddr, Vec<String>)]) -> Vec<Load> {
    let mut runs: Vec<Vec<Load>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (runs, (addr, headers)) in runs.iter_mut().zip(servers) {
            runs.push(load_with(*addr, headers));
        }
    }
    runs.into_iter().map(median_load).collect()
}

/// What observability costs, as one row of [`observed`]'s table.
struct Observed {
    what: &'static str,
    load: Load,
    /// CPU the server used per request, in microseconds.
    server_us: f64,
    /// CPU the OTLP receiver (this process) used per request, in microseconds.
    receiver_us: f64,
    /// Spans the receiver got from this server against requests the server answered (none
    /// when it exports none).
    spans: Option<(usize, u64)>,
}

/// What observability costs: the same `spinrt up` with nothing on, with the metrics endpoint
/// on, with every request traced and exported over OTLP, and with traces and metrics exported,
/// each server loaded in turn for [`ROUNDS`] rounds. Besides throughput, the CPU per
/// request of the server and of the receiver, apart: on this 2-core machine the receiver (a
/// collector, on a node usually a DaemonSet of its own) competes with the server and `wrk` for
/// the same cores.
fn observed(app: &str, dir: &Path, args: &[&str]) -> Vec<Observed> {
    use spinrt_tests::otlp::OtlpReceiver;
    use spinrt_tests::report::cpu_seconds;

    let metrics_addr = format!("127.0.0.1:{}", net::free_port());
    let receivers = [
        OtlpReceiver::start_counting(),
        OtlpReceiver::start_counting(),
    ];
    // A signal's own endpoint variable is the whole URL (OTLP's specification); the common
    // one is a base the exporter appends `/v1/traces` to.
    let traces = format!("{}/v1/traces", receivers[0].endpoint());
    let both = receivers[1].endpoint();
    // What each server is started with, and the receiver its spans go to.
    type Config<'a> = (
        &'static str,
        Vec<(&'a str, &'a str)>,
        Option<&'a OtlpReceiver>,
    );
    let configs: [Config; 4] = [
        ("nothing on", vec![], None),
        (
            "metrics on (`SPIN_METRICS_ADDR`)",
            vec![("SPIN_METRICS_ADDR", metrics_addr.as_str())],
            None,
        ),
        (
            "traces exported over OTLP (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)",
            vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str())],
            Some(&receivers[0]),
        ),
        (
            "traces and metrics exported over OTLP (`OTEL_EXPORTER_OTLP_ENDPOINT`)",
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", both.as_str())],
            Some(&receivers[1]),
        ),
    ];
    let servers: Vec<Up> = configs
        .iter()
        .enumerate()
        .map(|(i, (_, env, _))| {
            let up = Up::try_start(
                apps::manifest_dir(app),
                args,
                env,
                &dir.join(format!("{app}-observed-{i}.log")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(net::blocking_get(up.addr, "/").0, 200);
            up
        })
        .collect();
    // (load, server CPU s, receiver CPU s) of every round, per server.
    let mut runs: Vec<Vec<(Load, f64, f64)>> = servers.iter().map(|_| Vec::new()).collect();
    // Alternated: a drift of the machine hits all alike.
    for _ in 0..ROUNDS {
        for (up, runs) in servers.iter().zip(&mut runs) {
            let pid = up.child.id().to_string();
            let cpu = || (cpu_seconds(&pid).unwrap(), cpu_seconds("self").unwrap());
            let before = cpu();
            let load = load(up.addr);
            let after = cpu();
            runs.push((load, after.0 - before.0, after.1 - before.1));
        }
    }
    configs
        .iter()
        .zip(runs)
        .map(|((what, _, receiver), runs)| {
            let requests: u64 = runs.iter().map(|(l, ..)| l.requests).sum();
            let per_request = |cpu: f64| cpu * 1e6 / requests as f64;
            let server_us = per_request(runs.iter().map(|r| r.1).sum());
            let receiver_us = per_request(runs.iter().map(|r| r.2).sum());
            // Batches still on their way come within the processor's 5 s schedule.
            let spans = receiver.map(|receiver| {
                let deadline = Instant::now() + Duration::from_secs(15);
                while (receiver.received() as u64) < requests && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(200));
                }
                (receiver.received(), requests)
            });
            Observed {
                what,
                load: median_load(runs.into_iter().map(|r| r.0).collect()),
                server_us,
                receiver_us,
                spans,
            }
        })
        .collect()
}

/// [`observed`]'s rows as a table, each against the first (nothing on).
fn observed_table(app: &str, rows: &[Observed]) -> String {
    let base = &rows[0];
    let mut table = format!(
        "\n## What observability costs: `{app}` (WASI 0.2) under `spinrt up`, \
         {ROUNDS} rounds of `wrk` alternated, medians\n\n\
         CPU per request is the server's own and the OTLP receiver's (a collector), apart: both \
         share this machine's two cores with `wrk`.\n\n\
         | spinrt up with | requests/s | vs nothing on | p50 ms | p99 ms | server CPU µs/request \
         | receiver CPU µs/request | spans received / requests |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for row in rows {
        let spans = row.spans.map_or("".into(), |(spans, requests)| {
            format!("{spans} / {requests}")
        });
        table.push_str(&format!(
            "| {} | {:.0} | {:+.1} % | {:.2} | {:.2} | {:.0} | {:.0} | {spans} |\n",
            row.what,
            row.load.rps,
            (row.load.rps / base.load.rps - 1.0) * 100.0,
            row.load.p50_ms,
            row.load.p99_ms,
            row.server_us,
            row.receiver_us,
        ));
    }
    table
}

/// The run with the median requests/s.
fn median_load(mut loads: Vec<Load>) -> Load {
    loads.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    loads.swap_remove(loads.len() / 2)
}

/// `ctr run -d` → first 200, in milliseconds.
fn time_to_first_200(ctd: &Containerd, run: impl FnOnce() -> (String, SocketAddr)) -> f64 {
    let start = Instant::now();
    let (id, addr) = run();
    loop {
        if net::wait_for_listener(addr, Duration::from_millis(100))
            && net::blocking_get(addr, "/").0 == 200
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{id} never answered"
        );
    }
    let elapsed = start.elapsed().as_secs_f64() * 1000.0;
    remove_task(ctd, &id);
    elapsed
}

fn remove_task(ctd: &Containerd, id: &str) {
    ctd.ctr(&["task", "kill", "--signal", "SIGKILL", id]);
    let _ = ctd.wait_for_status(id, "STOPPED", Duration::from_secs(20));
    ctd.ctr(&["task", "delete", id]);
    ctd.ctr(&["container", "delete", id]);
}

/// `ctr run -d` of `image` under our shim, on the host's network, told to listen on a free
/// loopback port: the task's id and address, as soon as `ctr` returns.
fn run_spin(ctd: &Containerd, image: &str) -> (String, SocketAddr) {
    let port = net::free_port();
    let id = unique_id("spin");
    let listen = format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}");
    ctd.ctr_ok(&[
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--net-host",
        "--env",
        &listen,
        image,
        &id,
        "/",
    ]);
    (id, format!("127.0.0.1:{port}").parse().unwrap())
}

fn runc_run(ctd: &Containerd, image: &str) -> f64 {
    time_to_first_200(ctd, || {
        let port = net::free_port();
        let id = unique_id("runc");
        let bind = format!("127.0.0.1:{port}");
        ctd.ctr_ok(&[
            "run",
            "-d",
            "--net-host",
            image,
            &id,
            "/bin/busybox",
            "httpd",
            "-f",
            "-p",
            &bind,
            "-h",
            "/www",
        ]);
        (id, bind.parse().unwrap())
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Memory of every process below this containerd's shims, in MiB: resident (RSS) and
/// proportional (PSS). A task's container process is forked from its shim and shares the
/// shim's pages, which RSS counts once per process and PSS divides among them.
struct ShimMemory {
    rss_mib: f64,
    pss_mib: f64,
}

fn shim_memory(ctd: &Containerd) -> ShimMemory {
    let shims = ctd.shim_processes();
    let (mut rss, mut pss) = (0, 0);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if !descends_from(pid, &shims) {
            continue;
        }
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let kib = |field: &str| {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        rss += kib("Rss:");
        pss += kib("Pss:");
    }
    ShimMemory {
        rss_mib: rss as f64 / 1024.0,
        pss_mib: pss as f64 / 1024.0,
    }
}

fn descends_from(mut pid: u32, ancestors: &[u32]) -> bool {
    for _ in 0..64 {
        if ancestors.contains(&pid) {
            return true;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The parent pid is the second field after the parenthesised command.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
        else {
            return false;
        };
        if ppid <= 1 {
            return false;
        }
        pid = ppid;
    }
    false
}

fn busybox_image(dir: &Path) -> PathBuf {
    images::busybox_image(
        &[("www/index.html", b"Hello from busybox!\n".to_vec())],
        &["/bin/busybox", "httpd", "-f"],
        "localhost/busybox-httpd:v1",
        dir,
    )
}

fn main() {
    // `cargo bench` passes flags such as `--bench`; this harness has none of its own.
    let dir = tempfile::tempdir().unwrap();
    apps::ensure_built();
    let mut report = format!(
        "Measured by `make bench-compare` on {}.\n\n",
        spinrt_tests::report::machine()
    );
    report.push_str(&format!(
        "## An echo component: `wrk -t2 -c{CONNECTIONS} -d{DURATION_SECS}s` on loopback\n\n\
         The servers of each build loaded in turn, {ROUNDS} rounds, medians.\n\n\
         | server | requests/s | p50 ms | p99 ms |\n|---|---:|---:|---:|\n"
    ));
    let ctd = Containerd::start(Version::V2_1);
    let rows = throughput(dir.path(), &ctd);
    for (name, load) in &rows {
        match load {
            Some(l) => report.push_str(&format!(
                "| {name} | {:.0} | {:.2} | {:.2} |\n",
                l.rps, l.p50_ms, l.p99_ms
            )),
            None => report.push_str(&format!("| {name} | not installed ({WASMTIME}) | | |\n")),
        }
    }

    let args = ["--cache-dir", dir.path().join("cache").to_str().unwrap()].map(str::to_string);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    report.push_str(&observed_table(
        "echo",
        &observed("echo", dir.path(), &args),
    ));

    let tar = images::spin_artifact("hello", "localhost/hello:v1", dir.path());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let cold = time_to_first_200(&ctd, || run_spin(&ctd, "localhost/hello:v1"));
    let warm = median(
        (0..5)
            .map(|_| time_to_first_200(&ctd, || run_spin(&ctd, "localhost/hello:v1")))
            .collect(),
    );
    // The same component in a plain image (spin.toml and the Wasm in its rootfs).
    let plain = images::plain_hello_image("localhost/plain-hello:v1", dir.path());
    ctd.ctr_ok(&["images", "import", plain.to_str().unwrap()]);
    let plain_cold = time_to_first_200(&ctd, || run_spin(&ctd, "localhost/plain-hello:v1"));
    let plain_warm = median(
        (0..5)
            .map(|_| time_to_first_200(&ctd, || run_spin(&ctd, "localhost/plain-hello:v1")))
            .collect(),
    );
    let busybox = busybox_image(dir.path());
    ctd.ctr_ok(&["images", "import", busybox.to_str().unwrap()]);
    let runc = median(
        (0..5)
            .map(|_| runc_run(&ctd, "localhost/busybox-httpd:v1"))
            .collect(),
    );
    report.push_str(&format!(
        "\n## `ctr run` to first HTTP 200 (containerd 2.1, median of 5)\n\n\
         | what | ms |\n|---|---:|\n\
         | spin shim, Spin artifact, first task of the image (compiles it) | {cold:.0} |\n\
         | spin shim, Spin artifact, compiled before | {warm:.0} |\n\
         | spin shim, plain image, first task of the image (compiles it) | {plain_cold:.0} |\n\
         | spin shim, plain image, compiled before | {plain_warm:.0} |\n\
         | runc, busybox httpd | {runc:.0} |\n"
    ));

    let mut ids = Vec::new();
    for _ in 0..TASKS {
        let (id, addr) = run_spin(&ctd, "localhost/hello:v1");
        assert!(net::wait_for_listener(addr, Duration::from_secs(60)));
        assert_eq!(net::blocking_get(addr, "/").0, 200);
        if ids.is_empty() {
            let one = shim_memory(&ctd);
            report.push_str(&format!(
                "\n## Memory\n\n| what | MiB (RSS) | MiB (PSS) |\n|---|---:|---:|\n\
                 | one idle shim task (all its processes) | {:.1} | {:.1} |\n",
                one.rss_mib, one.pss_mib
            ));
        }
        ids.push(id);
    }
    let all = shim_memory(&ctd);
    report.push_str(&format!(
        "| {TASKS} tasks at once (sum) | {:.1} | {:.1} |\n",
        all.rss_mib, all.pss_mib
    ));
    drop(ctd);

    let path = spinrt_tests::report::write_section("compare", &report);
    println!("{report}\nwritten to {}", path.display());
}
