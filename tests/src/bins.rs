//! The workspace's binaries (`spinrt`, `containerd-shim-spin-v2`), as built by
//! `cargo build --bins` into the same target directory as the running test.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

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

/// A running `spinrt up`, killed on drop.
pub struct Up {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Up {
    /// `spinrt up --from FROM --listen 127.0.0.1:<free port> ARGS...`, its log in `log`; waits
    /// until it listens (debug builds compile slowly).
    pub fn start(from: impl AsRef<OsStr>, args: &[&str], log: &Path) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", crate::net::free_port())
            .parse()
            .unwrap();
        let child = Command::new(bin("spinrt"))
            .arg("up")
            .arg("--from")
            .arg(from)
            .args(["--listen", &addr.to_string()])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("starting spinrt up");
        let mut up = Self { child, addr };
        if !crate::net::wait_for_listener(addr, Duration::from_secs(90)) {
            let _ = up.child.kill();
            panic!(
                "spinrt up never listened on {addr}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        up
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
