//! The process that compiles an image's Wasm for the daemon, run as the daemon runs it: it
//! confines itself before it reads a byte of the (untrusted) Wasm, makes machine code of a
//! valid component, and refuses an invalid one naming it. Needs root, as the shim does.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_containerd-shim-spin-v2-server");

fn compiler(name: &str) -> std::process::Child {
    Command::new(SERVER)
        .args(["compile-wasm", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `/proc/PID/status` once the process has dropped its privileges (it then waits for stdin).
fn status_when_locked_down(pid: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        if status.lines().any(|l| l == "Seccomp:\t2") {
            return status;
        }
        assert!(Instant::now() < deadline, "never locked down:\n{status}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_compiler_is_confined_before_it_reads_the_wasm() {
    let mut child = compiler("probe");
    let pid = child.id();
    let status = status_when_locked_down(pid);
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
            .to_string()
    };
    for caps in ["CapEff:", "CapPrm:", "CapBnd:", "CapAmb:"] {
        assert_eq!(field(caps), "0000000000000000", "{caps}");
    }
    assert_eq!(field("NoNewPrivs:"), "1");
    assert!(field("Uid:").starts_with("65534"), "not nobody: {status}");
    let ns = |pid: &str, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    for kind in ["net", "mnt", "ipc", "uts", "cgroup"] {
        assert_ne!(
            ns(&pid.to_string(), kind),
            ns("self", kind),
            "the host's {kind} namespace"
        );
    }
    // Its root is an empty directory.
    let root: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/root"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(root.is_empty(), "its root holds {root:?}");
    // It still compiles what it is then given: the hello test app (`make apps` builds it).
    let hello = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/apps/target/wasm32-wasip2/release/hello.wasm");
    let wasm = std::fs::read(&hello)
        .unwrap_or_else(|e| panic!("{}: {e} (make apps builds it)", hello.display()));
    child.stdin.take().unwrap().write_all(&wasm).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "no machine code");
}

#[test]
fn invalid_wasm_is_refused_naming_it() {
    let mut child = compiler("sha256:0123abcd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\0asm but not really")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sha256:0123abcd"), "{stderr}");
    assert!(out.stdout.is_empty());
}
