//! The manifests in `deploy/`, checked as the API server would take them (typed with
//! k8s-openapi for Kubernetes 1.33; a field the types do not know is a typo and fails) and
//! against each other and this project: the RuntimeClass names the handler our shim is installed
//! as, the Deployment names the RuntimeClass, Service, Ingress and HPA point at what exists, and
//! the node installer's command runs with our real `spinrt` against a node root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use spinrt_tests::bins::bin;
use spinrt_tests::cri::HANDLER;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every object in the YAML files under `deploy/`, with the file it came from.
fn objects() -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    let mut dirs = vec![deploy_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut objects = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
            if !value.is_null() {
                objects.push((file.clone(), value));
            }
        }
    }
    objects
}

/// Parses `value` as `T` and checks nothing was dropped on the way (an unknown field).
fn typed<T: DeserializeOwned + Serialize>(file: &Path, value: &Value) -> T {
    let name = &value["metadata"]["name"];
    let object: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{}: {name}: {e}", file.display()));
    let back = serde_json::to_value(&object).unwrap();
    if let Some(path) = first_difference(value, &back, String::new()) {
        panic!(
            "{}: {name}: `{path}` is not a field of {} (typo?)",
            file.display(),
            value["kind"]
        );
    }
    object
}

/// The first path where `original` has something `parsed` lost.
fn first_difference(original: &Value, parsed: &Value, path: String) -> Option<String> {
    match (original, parsed) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, v)| match b.get(k) {
            Some(w) => first_difference(v, w, format!("{path}.{k}")),
            None => Some(format!("{path}.{k}")),
        }),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, format!("{path}[{i}]"))),
        (a, b) if a == b => None,
        _ => Some(path),
    }
}

#[derive(Default)]
struct Manifests {
    runtime_classes: Vec<RuntimeClass>,
    daemon_sets: Vec<DaemonSet>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    ingresses: Vec<Ingress>,
    autoscalers: Vec<HorizontalPodAutoscaler>,
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
}

fn manifests() -> Manifests {
    let mut m = Manifests::default();
    for (file, value) in objects() {
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        match kind.as_str() {
            "RuntimeClass" => m.runtime_classes.push(typed(&file, &value)),
            "DaemonSet" => m.daemon_sets.push(typed(&file, &value)),
            "Deployment" => m.deployments.push(typed(&file, &value)),
            "Service" => m.services.push(typed(&file, &value)),
            "Ingress" => m.ingresses.push(typed(&file, &value)),
            "HorizontalPodAutoscaler" => m.autoscalers.push(typed(&file, &value)),
            "Namespace" => m.namespaces.push(typed(&file, &value)),
            "ServiceAccount" => m.service_accounts.push(typed(&file, &value)),
            other => panic!("{}: no check for kind {other:?}", file.display()),
        }
    }
    m
}

fn pod_spec(deployment: &Deployment) -> &PodSpec {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod spec")
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

#[test]
fn every_manifest_is_a_valid_kubernetes_object() {
    let m = manifests();
    assert_eq!(m.runtime_classes.len(), 1);
    assert_eq!(m.daemon_sets.len(), 2, "installer and uninstaller");
    assert_eq!(m.deployments.len(), 1);
    assert_eq!(m.services.len(), 1);
    assert_eq!(m.ingresses.len(), 1);
    assert_eq!(m.autoscalers.len(), 1);
    assert_eq!(m.namespaces.len(), 1);
    assert_eq!(m.service_accounts.len(), 1);
}

#[test]
fn the_runtime_class_names_our_handler_and_schedules_where_the_installer_ran() {
    let m = manifests();
    let class = &m.runtime_classes[0];
    assert_eq!(name_of(&class.metadata), "wasmtime-spin-v2");
    assert_eq!(class.handler, HANDLER);
    let class_nodes = class
        .scheduling
        .as_ref()
        .and_then(|s| s.node_selector.clone())
        .expect("the RuntimeClass keeps Spin pods on installed nodes");
    for ds in &m.daemon_sets {
        let selector = ds
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.node_selector.clone())
            .unwrap_or_default();
        for (label, value) in &class_nodes {
            assert_eq!(
                selector.get(label),
                Some(value),
                "{} runs on other nodes than the RuntimeClass schedules to",
                name_of(&ds.metadata)
            );
        }
    }
}

#[test]
fn the_example_app_is_the_seeds_deployment_service_ingress_and_hpa() {
    let m = manifests();
    let deployment = &m.deployments[0];
    let pod = pod_spec(deployment);
    assert_eq!(
        pod.runtime_class_name.as_deref(),
        Some(name_of(&m.runtime_classes[0].metadata))
    );
    let main = &pod.containers[0];
    assert_eq!(main.command.as_deref(), Some(&["/".to_string()][..]));
    let probe = main
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref());
    assert_eq!(
        probe.and_then(|g| g.path.as_deref()),
        Some("/.well-known/spin/health")
    );
    let requests = main
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .cloned()
        .unwrap_or_default();
    assert!(
        requests.contains_key("cpu"),
        "the HPA's CPU utilization needs a CPU request"
    );
    let port_names: Vec<_> = main
        .ports
        .iter()
        .flatten()
        .filter_map(|p| p.name.clone())
        .collect();

    // Prometheus is pointed at the port the metrics endpoint opens.
    let annotations = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    let metrics_addr = main
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "SPIN_METRICS_ADDR")
        .and_then(|e| e.value.clone())
        .expect("the example turns the metrics endpoint on");
    let scraped_port = annotations
        .get("prometheus.io/port")
        .expect("a scrape port");
    assert_eq!(
        annotations.get("prometheus.io/scrape").map(String::as_str),
        Some("true")
    );
    assert!(
        metrics_addr.ends_with(&format!(":{scraped_port}")),
        "{metrics_addr}"
    );
    assert!(
        main.ports
            .iter()
            .flatten()
            .any(|p| p.container_port.to_string() == *scraped_port),
        "no container port {scraped_port}"
    );

    let pod_labels = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let service = &m.services[0];
    let spec = service.spec.as_ref().unwrap();
    let selector: BTreeMap<_, _> = spec.selector.clone().unwrap_or_default();
    assert!(!selector.is_empty());
    assert!(
        selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)),
        "the Service selects no pod of the Deployment"
    );
    for port in spec.ports.iter().flatten() {
        match &port.target_port {
            Some(IntOrString::String(name)) => assert!(port_names.contains(name), "{name}"),
            other => panic!("target port {other:?} should name the container's port"),
        }
    }

    let ingress = &m.ingresses[0];
    for rule in ingress.spec.as_ref().unwrap().rules.iter().flatten() {
        for path in &rule.http.as_ref().unwrap().paths {
            let backend = path.backend.service.as_ref().unwrap();
            assert_eq!(backend.name, name_of(&service.metadata));
            let port = backend.port.as_ref().and_then(|p| p.name.clone());
            assert!(
                spec.ports.iter().flatten().any(|p| p.name == port),
                "the Ingress names port {port:?} the Service does not have"
            );
        }
    }

    let hpa = m.autoscalers[0].spec.as_ref().unwrap();
    assert_eq!(hpa.scale_target_ref.kind, "Deployment");
    assert_eq!(hpa.scale_target_ref.name, name_of(&deployment.metadata));
    assert!(
        hpa.metrics
            .iter()
            .flatten()
            .any(|m| m.resource.as_ref().is_some_and(|r| r.name == "cpu")),
        "the seed's HPA scales on CPU"
    );
}

/// `COPY` destinations in the installer's Dockerfile.
fn image_files() -> Vec<String> {
    std::fs::read_to_string(deploy_dir().join("node-installer/Dockerfile"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn the_node_installers_commands_run_with_our_spinrt() {
    let m = manifests();
    let in_image = image_files();
    assert!(in_image.contains(&"/usr/local/bin/spinrt".to_string()));
    for ds in &m.daemon_sets {
        let pod = ds
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .unwrap();
        let name = name_of(&ds.metadata);
        assert_eq!(
            pod.host_pid,
            Some(true),
            "{name}: restarts need the node's PID 1"
        );
        let init = &pod.init_containers.as_ref().unwrap()[0];
        assert_eq!(
            init.security_context.as_ref().and_then(|s| s.privileged),
            Some(true),
            "{name}"
        );
        let mount = &init.volume_mounts.as_ref().unwrap()[0];
        let volume = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap();
        assert_eq!(volume.host_path.as_ref().unwrap().path, "/", "{name}");

        // The command as the pod runs it, against a node root of the test's own.
        let command = init.command.clone().unwrap();
        assert_eq!(command[0], "spinrt");
        if let Some(i) = command.iter().position(|a| a == "--shim") {
            assert!(
                in_image.contains(&command[i + 1]),
                "{name}: no {}",
                command[i + 1]
            );
        }
        let node = tempfile::tempdir().unwrap();
        let config = node.path().join("etc/containerd/config.toml");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, "version = 3\n").unwrap();
        let shim = bin("containerd-shim-spin-v2");
        let args: Vec<String> = command[1..]
            .iter()
            .map(|a| match a.as_str() {
                p if p == mount.mount_path => node.path().display().to_string(),
                p if p.ends_with("/containerd-shim-spin-v2") => shim.display().to_string(),
                other => other.to_string(),
            })
            .collect();
        if args[0] == "uninstall" {
            run_spinrt(&["install", "--host-root", &node.path().display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_spinrt(&args);
        let installed = node.path().join("usr/local/bin/containerd-shim-spin-v2");
        let text = std::fs::read_to_string(&config).unwrap();
        match args[0] {
            "install" => {
                assert!(installed.is_file(), "{name}");
                assert!(
                    installed
                        .with_file_name("containerd-shim-spin-v2-server")
                        .is_file(),
                    "{name}: no server binary"
                );
                assert!(text.contains("runtimes.spin]"), "{name}: {text}");
            }
            "uninstall" => {
                assert!(!installed.exists(), "{name}");
                assert_eq!(text, "version = 3\n", "{name}");
            }
            other => panic!("{name}: runs `spinrt {other}`"),
        }
    }
}

fn run_spinrt(args: &[&str]) {
    let out = Command::new(bin("spinrt"))
        .args(args)
        .arg("--no-restart")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "spinrt {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
