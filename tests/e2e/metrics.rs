//! The Prometheus endpoint (`SPIN_METRICS_ADDR`), scraped by Debian's Prometheus: after a known
//! number of requests (answered, unrouted, trapping, outgrowing their memory), the counters
//! Prometheus stored are read back through its HTTP API; through `spinrt up` and containerd 2.1.
//! The same metrics exported over OTLP to a receiver built on the protocol's definitions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spinrt_tests::bins::Up;
use spinrt_tests::containerd::{Containerd, Version, unique_id};
use spinrt_tests::net::{blocking_get as get, free_port};
use spinrt_tests::services::{prometheus, prometheus_query};
use spinrt_tests::{apps, images};

/// Guest memory small enough that `/grow` (192 MiB) is refused.
const MAX_MEMORY: &str = "67108864";

/// The requests the assertions count: 5 answered, 3 without a route, 2 traps, 1 growth refused
/// (the guest then aborts: a trap too).
fn send_requests(addr: SocketAddr) {
    for _ in 0..5 {
        assert_eq!(get(addr, "/hello"), (200, "Hello from Spin!\n".into()));
    }
    for _ in 0..3 {
        assert_eq!(get(addr, "/nope").0, 404);
    }
    for _ in 0..2 {
        assert_eq!(get(addr, "/trap").0, 500);
    }
    assert_eq!(get(addr, "/grow").0, 500);
}

/// Waits until Prometheus has scraped what `send_requests` caused, then checks each series.
fn assert_scraped(prometheus_port: u16, log: impl Fn() -> String) {
    let by_status = || -> BTreeMap<String, f64> {
        prometheus_query(
            prometheus_port,
            "sum by (http_response_status_code) (http_server_request_duration_seconds_count)",
        )
        .into_iter()
        .map(|(labels, value)| {
            let status = labels["http_response_status_code"].as_str().unwrap();
            (status.to_string(), value)
        })
        .collect()
    };
    let expected = BTreeMap::from([
        ("200".to_string(), 5.0),
        ("404".to_string(), 3.0),
        ("500".to_string(), 3.0),
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while by_status() != expected {
        assert!(
            Instant::now() < deadline,
            "Prometheus has {:?}, not {expected:?}:\n{}",
            by_status(),
            log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let value = |query: &str| -> Vec<(String, f64)> {
        prometheus_query(prometheus_port, query)
            .into_iter()
            .map(|(labels, value)| {
                let component = labels
                    .get("spin_component_id")
                    .and_then(|c| c.as_str())
                    .unwrap_or("")
                    .to_string();
                (component, value)
            })
            .collect()
    };
    // Counted by route and component; an unrouted request has neither.
    assert_eq!(
        value(
            "http_server_request_duration_seconds_count{http_route=\"/hello\",http_request_method=\"GET\"}"
        ),
        [("hello".to_string(), 5.0)]
    );
    assert_eq!(
        value("http_server_request_duration_seconds_count{http_response_status_code=\"404\"}"),
        [(String::new(), 3.0)]
    );
    assert_eq!(
        value("sum by (spin_component_id) (spin_guest_traps_total)"),
        [("trap".to_string(), 3.0)]
    );
    let refusals = value("spin_guest_memory_grow_refusals_total");
    assert!(
        refusals.len() == 1 && refusals[0].0 == "trap" && refusals[0].1 >= 1.0,
        "{refusals:?}"
    );
    assert_eq!(
        value("sum(http_server_active_requests)"),
        [(String::new(), 0.0)]
    );
    assert_eq!(
        value("sum by (spin_component_id) (spin_instances_in_use)"),
        [("hello".to_string(), 0.0), ("trap".to_string(), 0.0)]
    );
    assert_eq!(value("spin_instance_pool_size"), [(String::new(), 1000.0)]);
    let loads = value("spin_component_load_duration_seconds_count");
    assert_eq!(loads.len(), 2, "{loads:?}");
}

#[test]
fn prometheus_scrapes_request_and_guest_metrics_from_spinrt_up() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("up.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let metrics_port = free_port();
    let scraper = prometheus(metrics_port);
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut up = Up::try_start(
        apps::manifest_dir("observed"),
        &["--no-cache", "--metrics-addr", &metrics_addr],
        &[("SPIN_WASMTIME_MAX_MEMORY_SIZE", MAX_MEMORY)],
        &log_path,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(log().contains(&format!("serving metrics on http://{metrics_addr}/metrics")));
    send_requests(up.addr);
    assert_scraped(scraper.port, log);
    let status = up.terminate();
    assert!(status.success(), "{status}\n{}", log());
}

#[test]
fn without_a_metrics_address_nothing_listens_for_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("up.log");
    let mut up = Up::try_start(
        apps::manifest_dir("observed"),
        &["--no-cache"],
        &[],
        &log_path,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("serving metrics"), "{log}");
    assert_eq!(get(up.addr, "/hello").0, 200);
    up.terminate();
}

#[test]
fn prometheus_scrapes_a_task_under_containerd_2_1() {
    let metrics_port = free_port();
    let scraper = prometheus(metrics_port);
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::spin_artifact("observed", "localhost/observed:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("observed");
    let task_log = ctd.dir().join("observed-task.log");
    let log_uri = format!("file://{}", task_log.display());
    let metrics_env = format!("SPIN_METRICS_ADDR=127.0.0.1:{metrics_port}");
    let memory_env = format!("SPIN_WASMTIME_MAX_MEMORY_SIZE={MAX_MEMORY}");
    let addr = ctd.run_detached(
        "localhost/observed:v1",
        &id,
        &[
            "--env",
            &metrics_env,
            "--env",
            &memory_env,
            "--log-uri",
            &log_uri,
        ],
    );
    send_requests(addr);
    assert_scraped(scraper.port, || {
        std::fs::read_to_string(&task_log).unwrap_or_default()
    });
    let stopped = ctd.stop(&id);
    assert!(!stopped.contains("non-zero exit"), "{stopped}");
}

/// The counts of the latest export of `name` (a histogram's or a sum's), summed by the value
/// of the data points' attribute `by`.
fn latest_counts(
    receiver: &spinrt_tests::otlp::OtlpReceiver,
    name: &str,
    by: &str,
) -> BTreeMap<String, u64> {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
    use spinrt_tests::otlp::attribute_in;
    let Some(metric) = receiver
        .metrics()
        .into_iter()
        .rev()
        .find(|m| m.name == name)
    else {
        return BTreeMap::new();
    };
    let points: Vec<(String, u64)> = match metric.data {
        Some(Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| (attribute_in(&p.attributes, by).unwrap_or_default(), p.count))
            .collect(),
        Some(Data::Sum(sum)) => sum
            .data_points
            .iter()
            .map(|p| {
                let value = match p.value {
                    Some(Value::AsInt(i)) => i as u64,
                    Some(Value::AsDouble(d)) => d as u64,
                    None => 0,
                };
                (attribute_in(&p.attributes, by).unwrap_or_default(), value)
            })
            .collect(),
        other => panic!("{name} is {other:?}"),
    };
    let mut counts = BTreeMap::new();
    for (key, count) in points {
        *counts.entry(key).or_default() += count;
    }
    counts
}

#[test]
fn the_same_metrics_are_exported_over_otlp() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("up.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let receiver = spinrt_tests::otlp::OtlpReceiver::start();
    let endpoint = format!("{}/v1/metrics", receiver.endpoint());
    let mut up = Up::try_start(
        apps::manifest_dir("observed"),
        &["--no-cache"],
        &[
            ("SPIN_WASMTIME_MAX_MEMORY_SIZE", MAX_MEMORY),
            // Metrics only: no traces go anywhere.
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint.as_str()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
        &log_path,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    send_requests(up.addr);
    let expected = BTreeMap::from([
        ("200".to_string(), 5),
        ("404".to_string(), 3),
        ("500".to_string(), 3),
    ]);
    let by_status = || {
        latest_counts(
            &receiver,
            "http.server.request.duration",
            "http.response.status_code",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while by_status() != expected {
        assert!(
            Instant::now() < deadline,
            "exported {:?}, not {expected:?}:\n{}",
            by_status(),
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        latest_counts(&receiver, "spin.guest.traps", "spin.component_id"),
        BTreeMap::from([("trap".to_string(), 3)])
    );
    assert_eq!(
        latest_counts(
            &receiver,
            "spin.component.load.duration",
            "spin.component_id"
        )
        .len(),
        2
    );
    assert!(receiver.spans().is_empty(), "traces were not asked for");
    assert!(up.terminate().success(), "{}", log());
}
