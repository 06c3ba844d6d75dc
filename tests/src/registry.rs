//! Debian's `docker-registry` (the CNCF distribution registry) on 127.0.0.1: a free port, its
//! storage in a temp dir, stopped on drop.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Self {
        assert!(
            std::path::Path::new(BINARY).is_file(),
            "{BINARY} is missing: install Debian's docker-registry (make test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", crate::net::free_port())
            .parse()
            .unwrap();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {addr}\n",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .expect("starting docker-registry");
        let registry = Self {
            addr,
            child,
            _dir: dir,
        };
        assert!(
            crate::net::wait_for_listener(addr, Duration::from_secs(30)),
            "docker-registry never listened on {addr}"
        );
        registry
    }

    /// `127.0.0.1:PORT`, the host part of references into this registry.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
