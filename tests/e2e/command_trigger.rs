//! The command trigger: a WASI command (the `command` test app, built as a wasm32-wasip2
//! component and as a wasm32-wasip1 core module) runs once and its exit code becomes the
//! process's (`spinrt up`) or the task's (containerd + the shim), as a Kubernetes Job needs.

use std::process::Command;

use spinrt_tests::bins::{bin, up_refuses};
use spinrt_tests::containerd::{Containerd, Version, unique_id};
use spinrt_tests::{apps, images};

fn spinrt_up(app: &str, outcome: &str) -> (Option<i32>, String) {
    let out = Command::new(bin("spinrt"))
        .args(["up", "--no-cache", "--from"])
        .arg(apps::manifest_dir(app))
        .env("SPIN_VARIABLE_OUTCOME", outcome)
        .output()
        .expect("running spinrt up");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_command_runs_once_and_its_exit_code_is_the_apps() {
    for app in ["command", "command-wasip1"] {
        let (code, text) = spinrt_up(app, "success");
        assert_eq!(code, Some(0), "{app}: {text}");
        assert!(
            text.contains("command ran: outcome success"),
            "{app}: {text}"
        );
        assert!(text.contains("command stderr line"), "{app}: {text}");

        let (code, text) = spinrt_up(app, "failure");
        assert_eq!(code, Some(1), "{app}: {text}");
        assert!(
            text.contains("command ran: outcome failure"),
            "{app}: {text}"
        );
        assert!(text.contains("exited with 1"), "{app}: {text}");

        // A trap is a failure too, with its reason.
        let (code, text) = spinrt_up(app, "neither");
        assert_eq!(code, Some(1), "{app}: {text}");
        assert!(text.contains("unknown outcome 'neither'"), "{app}: {text}");
    }
}

#[test]
fn a_command_trigger_cannot_share_an_app_with_servers() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = apps::wasm("wasm32-wasip2", "command");
    std::fs::write(
        dir.path().join("spin.toml"),
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"mixed\"\n\
             [[trigger.command]]\ncomponent = \"job\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"job\"\n\
             [component.job]\nsource = \"{}\"\n",
            wasm.display()
        ),
    )
    .unwrap();
    let err = up_refuses(dir.path());
    assert!(
        err.contains("trigger 'trigger-job-command-0': a command trigger runs once"),
        "{err}"
    );
}

fn under_containerd(version: Version) {
    let ctd = Containerd::start(version);
    let tar = images::spin_artifact("command", "localhost/command:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let leases = ctd.leases("default");
    let mut ids = Vec::new();
    for (outcome, code) in [("success", 0), ("failure", 1)] {
        let id = unique_id("job");
        ids.push(id.clone());
        let env = format!("SPIN_VARIABLE_OUTCOME={outcome}");
        // As a Job's pod runs it: no HTTP port is needed (the host's port 80 may be taken).
        let out = ctd.ctr(&[
            "run",
            "--rm",
            "--runtime",
            "io.containerd.spin.v2",
            "--net-host",
            "--env",
            &env,
            "localhost/command:v1",
            &id,
            "/",
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "{outcome}: {text}\n{}",
            ctd.log()
        );
        assert!(
            text.contains(&format!("command ran: outcome {outcome}")),
            "{outcome}: {text}"
        );
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    ctd.assert_nothing_left("command tasks", &ids, &leases);
}

#[test]
fn a_command_task_exits_with_its_command_under_containerd_1_7() {
    under_containerd(Version::V1_7);
}

#[test]
fn a_command_task_exits_with_its_command_under_containerd_2_1() {
    under_containerd(Version::V2_1);
}
