//! The workspace's binaries (`spinrt`, `containerd-shim-spin-v2`), as built by
//! `cargo build --bins` into the same target directory as the running test.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
        Self::try_start(from, args, &[], log).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Up::start`] with environment variables `envs`, or why it did not come up (its log
    /// included).
    pub fn try_start(
        from: impl AsRef<OsStr>,
        args: &[&str],
        envs: &[(&str, &str)],
        log: &Path,
    ) -> Result<Self, String> {
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
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("starting spinrt up");
        let mut up = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(90);
        while !crate::net::wait_for_listener(addr, Duration::from_millis(200)) {
            let exited = up.child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                return Err(format!(
                    "spinrt up never listened on {addr} ({}):\n{}",
                    exited.map_or("timed out".to_string(), |s| s.to_string()),
                    std::fs::read_to_string(log).unwrap_or_default()
                ));
            }
        }
        Ok(up)
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

/// `spinrt up --no-cache --from FROM` for an app that must not start: asserts it exits 1 with
/// an error, not a panic, and returns its stderr.
pub fn up_refuses(from: impl AsRef<OsStr>) -> String {
    let out = Command::new(bin("spinrt"))
        .args(["up", "--no-cache", "--from"])
        .arg(from)
        .output()
        .expect("running spinrt up");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}
