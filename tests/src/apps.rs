//! The test apps in `tests/apps/`, built from source with spin-sdk on first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `tests/apps` folder.
pub fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("apps")
}

/// A test app's manifest folder, `tests/apps/manifests/NAME`, with its wasm built.
pub fn manifest_dir(name: &str) -> PathBuf {
    ensure_built();
    let dir = apps_dir().join("manifests").join(name);
    assert!(dir.join("spin.toml").is_file(), "no test app named {name}");
    dir
}

/// A built wasm file: `target` is `wasm32-wasip1` or `wasm32-wasip2`.
pub fn wasm(target: &str, crate_name: &str) -> PathBuf {
    ensure_built();
    apps_dir()
        .join("target")
        .join(target)
        .join("release")
        .join(format!("{crate_name}.wasm"))
}

/// Builds every test app for both WASI targets (once per test process; cargo makes it a
/// no-op when they are up to date).
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        for target in ["wasm32-wasip2", "wasm32-wasip1"] {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--release", "--quiet", "--target", target])
                .current_dir(apps_dir())
                // The outer cargo's settings are for the host build, not this one.
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_BUILD_TARGET")
                .status()
                .expect("running cargo to build the test apps");
            assert!(
                status.success(),
                "building the test apps for {target} failed"
            );
        }
    });
}
