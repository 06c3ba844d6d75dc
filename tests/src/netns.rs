//! A network namespace of the test's own, joined to the host by a veth pair: the test's own
//! "pod" with its own address. Removed on drop.

use std::path::PathBuf;
use std::process::Command;

pub struct NetNs {
    name: String,
    host_if: String,
    subnet: u8,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetNs {
    /// Host side 10.213.N.1/30, namespace side 10.213.N.2/30, N unique per test process.
    pub fn create() -> Self {
        use std::sync::atomic::{AtomicU8, Ordering};
        static NEXT: AtomicU8 = AtomicU8::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let subnet = ((std::process::id() as u8).wrapping_mul(7)).wrapping_add(n);
        let ns = Self {
            name: format!("spintest{tag}"),
            host_if: format!("sph{tag}"),
            subnet,
        };
        let guest_if = format!("spg{tag}");
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &guest_if,
        ]);
        ip(&["link", "set", &guest_if, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("10.213.{subnet}.1/30"),
            "dev",
            &ns.host_if,
        ]);
        ip(&["link", "set", &ns.host_if, "up"]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("10.213.{subnet}.2/30"),
            "dev",
            &guest_if,
        ]);
        ip(&["-n", &ns.name, "link", "set", &guest_if, "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }

    pub fn guest_ip(&self) -> String {
        format!("10.213.{}.2", self.subnet)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
