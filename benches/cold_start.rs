//! Process cold start: `spinrt up` with a warm precompile cache, until the first HTTP 200.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use spinrt_tests::bins::Up;
use spinrt_tests::{apps, net};

fn cold_start(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let args = ["--cache-dir", cache.to_str().unwrap()];
    let log = dir.path().join("up.log");
    // Warm the cache once.
    drop(Up::start(apps::manifest_dir("hello"), &args, &log));

    let mut group = c.benchmark_group("process");
    group.sample_size(10);
    group.bench_function("spinrt up (warm cache) to first 200", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let up = Up::start(apps::manifest_dir("hello"), &args, &log);
                assert_eq!(net::blocking_get(up.addr, "/").0, 200);
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, cold_start);
criterion_main!(benches);
