//! The precompile cache: a second load deserializes instead of compiling, and a corrupt entry
//! is compiled again, never trusted.

use spinrt_engine::{Engine, EngineConfig, LoadOutcome, PoolingLimits, PrecompileCache};
use spinrt_tests::apps;

fn engine(cache: &std::path::Path) -> Engine {
    Engine::new(&EngineConfig {
        cache_dir: Some(cache.to_path_buf()),
        pooling: PoolingLimits {
            total_component_instances: 16,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // Recomputed here rather than taken from the engine, so the test checks the cache key.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        write!(s, "{b:02x}").unwrap();
        s
    })
}

#[test]
fn second_start_hits_the_cache_for_components_and_modules() {
    let cache = tempfile::tempdir().unwrap();
    for (target, name) in [("wasm32-wasip2", "hello"), ("wasm32-wasip1", "hello")] {
        let bytes = std::fs::read(apps::wasm(target, name)).unwrap();
        let first = engine(cache.path());
        let (_, outcome) = first.load_component("hello", &bytes).unwrap();
        assert_eq!(outcome, LoadOutcome::Compiled, "{target}");
        assert_eq!(first.stats().compiled, 1);

        // A new engine, as after a process restart.
        let second = engine(cache.path());
        let (_, outcome) = second.load_component("hello", &bytes).unwrap();
        assert_eq!(outcome, LoadOutcome::Cached, "{target}");
        assert_eq!(
            second.stats().compiled,
            0,
            "{target}: the second start compiled"
        );
        assert_eq!(second.stats().cache_hits, 1);
    }
}

#[test]
fn corrupt_entries_are_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(apps::wasm("wasm32-wasip2", "hello")).unwrap();
    let first = engine(cache.path());
    first.load_component("hello", &bytes).unwrap();
    let entry = PrecompileCache::new(cache.path(), first.wasmtime())
        .unwrap()
        .entry_path(&sha256_hex(&bytes));
    assert!(entry.is_file(), "no cache entry at {}", entry.display());

    let original = std::fs::read(&entry).unwrap();
    let corruptions: Vec<(&str, Vec<u8>)> = vec![
        ("one flipped byte in the code", {
            let mut b = original.clone();
            let i = b.len() / 2;
            b[i] ^= 0xff;
            b
        }),
        ("truncated", original[..original.len() / 3].to_vec()),
        ("empty", vec![]),
        (
            "a raw wasmtime artifact without our header",
            original[40..].to_vec(),
        ),
    ];
    for (what, bytes_on_disk) in corruptions {
        std::fs::write(&entry, &bytes_on_disk).unwrap();
        let engine = engine(cache.path());
        let (_, outcome) = engine.load_component("hello", &bytes).unwrap();
        assert_eq!(
            outcome,
            LoadOutcome::Compiled,
            "{what}: a corrupt entry was trusted"
        );
        // The recompiled entry replaced the corrupt one and is good again.
        let again = crate::engine(cache.path());
        assert_eq!(
            again.load_component("hello", &bytes).unwrap().1,
            LoadOutcome::Cached,
            "{what}"
        );
    }
}
