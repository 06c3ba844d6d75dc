//! `spinrt install` / `uninstall` against real containerd configs: the defaults containerd 1.7
//! (config version 2) and 2.1 (version 3) write, with an admin's comment and setting added.
//! Applied twice gives the same file; the real containerd accepts the result and lists the
//! runtime; uninstall gives back the original, byte for byte.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spinrt_tests::bins::bin;
use spinrt_tests::containerd::Version;

/// `containerd config default`, its paths moved under `dir`, plus what an admin adds.
fn node_config(version: Version, dir: &Path) -> String {
    let out = Command::new(version.bin_dir().join("containerd"))
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let d = dir.display();
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace("/var/lib/containerd", &format!("{d}/root"))
        .replace("/run/containerd", &format!("{d}/state"))
        .replace("/opt/containerd", &format!("{d}/opt"));
    format!("# Managed by the platform team: ask before changing.\n{text}").replace(
        "SystemdCgroup = false",
        "SystemdCgroup = true # our nodes use systemd",
    )
}

fn spinrt(args: &[&str], config: &Path, bin_dir: &Path) -> String {
    let out = Command::new(bin("spinrt"))
        .args(args)
        .arg("--no-restart")
        .arg("--containerd-config")
        .arg(config)
        .arg("--bin-dir")
        .arg(bin_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "spinrt {args:?}: {stderr}");
    stderr
}

/// An admin's minimal config: containerd's defaults for everything but the paths.
fn minimal_config(version: Version, dir: &Path) -> String {
    spinrt_tests::containerd::Containerd::base_config(version, dir)
        .replace("/root\"", "/root\" # keep images on the data disk")
        .replace("containerd.sock", "state/containerd.sock")
}

/// The CRI plugin that holds the runtimes, as `ctr plugins ls` names it (type.id).
fn cri_plugin(version: Version) -> &'static str {
    match version {
        Version::V1_7 => "io.containerd.grpc.v1.cri",
        Version::V2_1 => "io.containerd.cri.v1.runtime",
    }
}

/// Starts containerd on `config` until it answers and its CRI plugin loaded, then stops it;
/// returns `config dump`.
fn accepted_by_containerd(version: Version, config: &Path, dir: &Path) -> String {
    let containerd = version.bin_dir().join("containerd");
    let dump = Command::new(&containerd)
        .arg("--config")
        .arg(config)
        .args(["config", "dump"])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let log = dir.join("containerd.log");
    let mut child = Command::new(&containerd)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let socket = dir.join("state/containerd.sock");
    let ctr = |args: &[&str]| {
        Command::new(version.bin_dir().join("ctr"))
            .arg("--address")
            .arg(&socket)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let start = Instant::now();
    let answered = loop {
        let version_ok = ctr(&["version"]).is_some();
        if version_ok || start.elapsed() > Duration::from_secs(30) {
            break version_ok;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let plugins = ctr(&["plugins", "ls"]).unwrap_or_default();
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(answered, "containerd did not start:\n{log}");
    // A config containerd starts on may still leave CRI unloaded, and then no pod runs.
    let cri_status = plugins.lines().find_map(|l| {
        let f: Vec<_> = l.split_whitespace().collect();
        (f.len() >= 3 && format!("{}.{}", f[0], f[1]) == cri_plugin(version))
            .then(|| f[f.len() - 1])
    });
    assert_eq!(
        cri_status,
        Some("ok"),
        "CRI did not load:\n{plugins}\n{log}"
    );
    String::from_utf8(dump.stdout).unwrap()
}

fn install_and_uninstall(version: Version, config_of: fn(Version, &Path) -> String) {
    let dir = tempfile::Builder::new()
        .prefix("inst")
        .tempdir_in("/tmp")
        .unwrap();
    let config = dir.path().join("config.toml");
    let bin_dir = dir.path().join("bin");
    let original = config_of(version, dir.path());
    std::fs::write(&config, &original).unwrap();

    spinrt(&["install"], &config, &bin_dir);
    let once = std::fs::read_to_string(&config).unwrap();
    assert_ne!(once, original);
    // The admin's comments and settings stay.
    for line in original.lines().filter(|l| l.contains('#')) {
        assert!(once.contains(line), "lost {line:?}:\n{once}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.toml.spinrt-backup")).unwrap(),
        original
    );
    let shim = bin_dir.join("containerd-shim-spin-v2");
    let server = bin_dir.join("containerd-shim-spin-v2-server");
    for binary in ["containerd-shim-spin-v2", "containerd-shim-spin-v2-server"] {
        assert_eq!(
            std::fs::read(bin_dir.join(binary)).unwrap(),
            std::fs::read(bin(binary)).unwrap(),
            "{binary}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&shim).unwrap().permissions().mode() & 0o777,
        0o755
    );

    let said = spinrt(&["install"], &config, &bin_dir);
    assert!(said.contains("already there"), "{said}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), once);

    let dump = accepted_by_containerd(version, &config, dir.path());
    let plugin = cri_plugin(version);
    let section = dump
        .split("\n[")
        .chain(dump.split("\n  ["))
        .find(|s| s.contains(plugin) && s.contains("containerd.runtimes.spin]"))
        .unwrap_or_else(|| panic!("no spin runtime in containerd's config dump:\n{dump}"));
    assert!(section.contains("io.containerd.spin.v2"), "{section}");

    spinrt(&["uninstall"], &config, &bin_dir);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert!(!shim.exists() && !server.exists());
}

#[test]
fn install_and_uninstall_on_containerd_1_7_config_v2() {
    install_and_uninstall(Version::V1_7, node_config);
}

#[test]
fn install_and_uninstall_on_containerd_2_1_config_v3() {
    install_and_uninstall(Version::V2_1, node_config);
}

/// A config that names no runtime: containerd 1.7 would lose its built-in runc (and CRI with
/// it) if the installer only added `spin`.
#[test]
fn install_and_uninstall_on_minimal_configs() {
    for version in Version::ALL {
        install_and_uninstall(version, minimal_config);
    }
}

#[test]
fn a_config_containerd_cannot_take_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let bin_dir = dir.path().join("bin");
    for (text, want) in [
        (
            "root = \"/var/lib/containerd\"\n",
            "config version 1 is not supported",
        ),
        ("version = 2\n[plugins\n", "not TOML"),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = Command::new(bin("spinrt"))
            .args(["install", "--no-restart", "--containerd-config"])
            .arg(&config)
            .arg("--bin-dir")
            .arg(&bin_dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains(want) && stderr.contains("config.toml"),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
        assert!(
            !bin_dir.exists(),
            "the shim was installed for a config that failed"
        );
    }
}

/// The DaemonSet's way: the node's root mounted in the pod, default paths taken inside it.
#[test]
fn installs_into_a_node_root_mounted_elsewhere() {
    let node = tempfile::tempdir().unwrap();
    let config = node.path().join("etc/containerd/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let original = node_config(Version::V2_1, node.path());
    std::fs::write(&config, &original).unwrap();
    let run = |command: &str| {
        let out = Command::new(bin("spinrt"))
            .args([command, "--no-restart", "--host-root"])
            .arg(node.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "spinrt {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("install");
    let shim = node.path().join("usr/local/bin/containerd-shim-spin-v2");
    let server = node
        .path()
        .join("usr/local/bin/containerd-shim-spin-v2-server");
    assert!(shim.is_file() && server.is_file());
    let patched = std::fs::read_to_string(&config).unwrap();
    assert!(patched.contains("runtimes.spin]"), "{patched}");
    run("uninstall");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert!(!shim.exists() && !server.exists());
}
