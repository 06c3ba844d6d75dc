//! The workspace's binaries (`spinrt`, `containerd-shim-spin-v2`), as built by
//! `cargo build --bins` into the same target directory as the running test.

use std::path::PathBuf;

/// The path of a workspace binary built next to this test executable.
pub fn bin(name: &str) -> PathBuf {
    // The test runs from target/<profile>/deps/; binaries are in target/<profile>/.
    let exe = std::env::current_exe().expect("locating the test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` (make test does) first",
        path.display()
    );
    path
}
