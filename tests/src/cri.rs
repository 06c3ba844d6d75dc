//! A Kubernetes node without kubelet: a private containerd with its CRI plugin, spoken to over
//! CRI gRPC exactly as kubelet speaks to it. The runtime handler `spin` maps to our shim; pods
//! get addresses from a CNI bridge on a subnet of the test's own; the pause image is Debian's
//! static busybox, built and imported locally (nothing is pulled from the internet).
//!
//! On drop every pod is stopped and removed through CRI, then containerd is torn down and the
//! bridge deleted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

use crate::containerd::{Containerd, Version};

/// The RuntimeClass handler our shim is installed as.
pub const HANDLER: &str = "spin";
/// The pause (sandbox) image every pod starts with.
pub const PAUSE_IMAGE: &str = "localhost/pause:latest";
/// CRI's namespace in containerd.
pub const NAMESPACE: &str = "k8s.io";

pub struct Node {
    containerd: Containerd,
    rt: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    bridge: String,
    logs: tempfile::TempDir,
}

/// A container of a pod, as a pod spec describes it.
pub struct ContainerSpec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub command: &'a [&'a str],
    /// `resources.limits.memory`; 0 for none.
    pub memory_limit_bytes: i64,
}

/// A pod the test asked for: its sandbox id, config (CreateContainer needs it again) and IP.
pub struct Pod {
    pub id: String,
    pub config: cri::PodSandboxConfig,
    pub ip: String,
}

impl Node {
    /// containerd `version` with CRI, handler `spin` → our shim, CNI bridge networking on a
    /// /24 (254 pods).
    pub fn start(version: Version) -> Self {
        Self::start_on(version, format!("10.214.{}.0/24", tag_octet()))
    }

    /// Like [`Node::start`] with a bridge on a /22 (1,022 pods), for density benchmarks; one
    /// such node per process at a time.
    pub fn start_large(version: Version) -> Self {
        Self::start_on(version, "10.215.0.0/22".to_string())
    }

    fn start_on(version: Version, subnet: String) -> Self {
        let tag = unique_tag();
        let bridge = format!("spbr{tag}");
        let containerd = Containerd::start_with(version, |root| {
            let cni_dir = root.join("cni");
            std::fs::create_dir_all(&cni_dir).unwrap();
            std::fs::write(
                cni_dir.join("10-spinrt-test.conflist"),
                cni_conflist(&bridge, &subnet, &root.join("cni-ipam")),
            )
            .unwrap();
            format!(
                "{}{}",
                Containerd::base_config(version, root),
                cri_config(version, &cni_dir, root)
            )
        });
        let busybox = crate::images::busybox_image(
            &[],
            &["/bin/busybox", "sleep", "2147483647"],
            PAUSE_IMAGE,
            containerd.dir(),
        );
        import(&containerd, &busybox);

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let socket = containerd.socket();
        let channel = rt
            .block_on(
                tonic::transport::Endpoint::try_from("http://[::]")
                    .unwrap()
                    .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                        let socket = socket.clone();
                        async move {
                            let stream = tokio::net::UnixStream::connect(socket).await?;
                            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                        }
                    })),
            )
            .expect("connecting to containerd's CRI socket");
        let node = Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            logs: tempfile::tempdir().unwrap(),
            containerd,
            rt,
            bridge,
        };
        node.wait_until_ready();
        node
    }

    pub fn containerd(&self) -> &Containerd {
        &self.containerd
    }

    /// Restarts containerd (see [`Containerd::restart`]) and waits until CRI is ready again.
    pub fn restart_containerd(&mut self, signal: &str) {
        self.containerd.restart(signal);
        self.wait_until_ready();
    }

    /// Imports an image tarball into CRI's namespace, as a pull would leave it.
    pub fn import(&self, tar: &Path) {
        import(&self.containerd, tar);
    }

    /// CRI's Status says the runtime and the network are ready (CNI config loaded).
    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // A containerd that just (re)started may not serve CRI yet.
            let status = self.try_call(|mut c| async move {
                c.status(cri::StatusRequest { verbose: false }).await
            });
            let conditions = status
                .ok()
                .and_then(|s| s.status)
                .map(|s| s.conditions)
                .unwrap_or_default();
            if !conditions.is_empty() && conditions.iter().all(|c| c.status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "CRI never became ready: {conditions:?}\n{}",
                self.containerd.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// RunPodSandbox with handler `spin`, then the pod's IP from PodSandboxStatus.
    pub fn run_pod(&self, name: &str) -> Pod {
        self.run_pod_with(name, HANDLER)
    }

    /// RunPodSandbox with the RuntimeClass handler `handler` (`runc` for Linux container pods).
    pub fn run_pod_with(&self, name: &str, handler: &str) -> Pod {
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.to_string(),
                uid: format!("uid-{name}-{}", unique_tag()),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.to_string(),
            log_directory: self.logs.path().join(name).to_string_lossy().into_owned(),
            ..Default::default()
        };
        let request = cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.into(),
        };
        let id = self
            .try_call(|mut c| async move { c.run_pod_sandbox(request).await })
            .unwrap_or_else(|e| panic!("RunPodSandbox {name}: {e}\n{}", self.containerd.log()))
            .pod_sandbox_id;
        let status = self.pod_status(&id);
        let ip = status
            .network
            .map(|n| n.ip)
            .filter(|ip| !ip.is_empty())
            .unwrap_or_else(|| panic!("pod {name} has no IP"));
        Pod { id, config, ip }
    }

    pub fn pod_status(&self, id: &str) -> cri::PodSandboxStatus {
        let request = cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose: false,
        };
        self.call(|mut c| async move { c.pod_sandbox_status(request).await })
            .status
            .expect("PodSandboxStatus without a status")
    }

    /// CreateContainer + StartContainer in `pod`; the image must have been imported.
    pub fn start_container(&self, pod: &Pod, spec: ContainerSpec) -> String {
        let name = spec.name;
        self.try_start_container(pod, spec)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.containerd.log()))
    }

    /// Like [`Node::start_container`], the error returned (a container that cannot start).
    pub fn try_start_container(&self, pod: &Pod, spec: ContainerSpec) -> Result<String, String> {
        let name = spec.name;
        let config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.to_string(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: spec.image.to_string(),
                ..Default::default()
            }),
            command: spec.command.iter().map(|s| s.to_string()).collect(),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(cri::LinuxContainerResources {
                    memory_limit_in_bytes: spec.memory_limit_bytes,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            log_path: format!("{name}/0.log"),
            ..Default::default()
        };
        let request = cri::CreateContainerRequest {
            pod_sandbox_id: pod.id.clone(),
            config: Some(config),
            sandbox_config: Some(pod.config.clone()),
        };
        let id = self
            .try_call(|mut c| async move { c.create_container(request).await })
            .map_err(|e| format!("CreateContainer: {e}"))?
            .container_id;
        let request = cri::StartContainerRequest {
            container_id: id.clone(),
        };
        self.try_call(|mut c| async move { c.start_container(request).await })
            .map_err(|e| format!("StartContainer: {e}"))?;
        Ok(id)
    }

    pub fn container_status(&self, id: &str) -> cri::ContainerStatus {
        let request = cri::ContainerStatusRequest {
            container_id: id.to_string(),
            verbose: false,
        };
        self.call(|mut c| async move { c.container_status(request).await })
            .status
            .expect("ContainerStatus without a status")
    }

    pub fn container_stats(&self, id: &str) -> cri::ContainerStats {
        let request = cri::ContainerStatsRequest {
            container_id: id.to_string(),
        };
        self.call(|mut c| async move { c.container_stats(request).await })
            .stats
            .expect("ContainerStats without stats")
    }

    /// ListContainerStats for every container, as kubelet's summary asks.
    pub fn list_container_stats(&self) -> Vec<cri::ContainerStats> {
        let request = cri::ListContainerStatsRequest { filter: None };
        self.call(|mut c| async move { c.list_container_stats(request).await })
            .stats
    }

    /// StopContainer with kubelet's grace period; returns how long it took.
    pub fn stop_container(&self, id: &str, grace_seconds: i64) -> Duration {
        let start = Instant::now();
        let request = cri::StopContainerRequest {
            container_id: id.to_string(),
            timeout: grace_seconds,
        };
        self.call(|mut c| async move { c.stop_container(request).await });
        start.elapsed()
    }

    /// RemoveContainer, as kubelet does before it restarts a container that exited.
    pub fn remove_container(&self, id: &str) {
        let request = cri::RemoveContainerRequest {
            container_id: id.to_string(),
        };
        self.call(|mut c| async move { c.remove_container(request).await });
    }

    /// StopPodSandbox then RemovePodSandbox (which removes its containers too).
    pub fn remove_pod(&self, id: &str) {
        self.try_remove_pod(id)
            .unwrap_or_else(|e| panic!("CRI call failed: {e}\n{}", self.containerd.log()));
    }

    /// Like [`Node::remove_pod`], the error returned: kubelet retries a removal that failed.
    pub fn try_remove_pod(&self, id: &str) -> Result<(), tonic::Status> {
        let stop = cri::StopPodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        self.try_call(|mut c| async move { c.stop_pod_sandbox(stop).await })?;
        let remove = cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        self.try_call(|mut c| async move { c.remove_pod_sandbox(remove).await })?;
        Ok(())
    }

    pub fn pods(&self) -> Vec<cri::PodSandbox> {
        self.call(|mut c| async move {
            c.list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
                .await
        })
        .items
    }

    pub fn containers(&self) -> Vec<cri::Container> {
        self.call(|mut c| async move {
            c.list_containers(cri::ListContainersRequest { filter: None })
                .await
        })
        .containers
    }

    /// The images CRI knows, by tag.
    pub fn image_tags(&self) -> Vec<String> {
        let mut images = self.images.clone();
        self.rt
            .block_on(images.list_images(cri::ListImagesRequest { filter: None }))
            .expect("ListImages")
            .into_inner()
            .images
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .collect()
    }

    /// The CRI log file of a container (what `kubectl logs` reads): `(stream, line)` pairs.
    pub fn container_log(&self, status: &cri::ContainerStatus) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&status.log_path).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                // <RFC 3339 time> <stream> <P|F> <text>
                let mut fields = l.splitn(4, ' ');
                let _time = fields.next()?;
                let stream = fields.next()?;
                let _tag = fields.next()?;
                Some((stream.to_string(), fields.next().unwrap_or("").to_string()))
            })
            .collect()
    }

    /// Pod addresses host-local still holds (one file per address): none once every pod is
    /// removed.
    pub fn addresses_in_use(&self) -> Vec<String> {
        walk_files(&self.containerd.dir().join("cni-ipam"))
            .iter()
            .filter_map(|p| p.file_name()?.to_str()?.parse::<std::net::Ipv4Addr>().ok())
            .map(|ip| ip.to_string())
            .collect()
    }

    fn call<C, F, T>(&self, f: C) -> T
    where
        C: FnOnce(RuntimeServiceClient<Channel>) -> F,
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.try_call(f)
            .unwrap_or_else(|e| panic!("CRI call failed: {e}\n{}", self.containerd.log()))
    }

    fn try_call<C, F, T>(&self, f: C) -> Result<T, tonic::Status>
    where
        C: FnOnce(RuntimeServiceClient<Channel>) -> F,
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.rt
            .block_on(f(self.runtime.clone()))
            .map(tonic::Response::into_inner)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let pods = self
            .rt
            .block_on(
                self.runtime
                    .clone()
                    .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None }),
            )
            .map(|r| r.into_inner().items)
            .unwrap_or_default();
        for pod in pods {
            let mut c = self.runtime.clone();
            let _ = self.rt.block_on(async {
                c.stop_pod_sandbox(cri::StopPodSandboxRequest {
                    pod_sandbox_id: pod.id.clone(),
                })
                .await?;
                c.remove_pod_sandbox(cri::RemovePodSandboxRequest {
                    pod_sandbox_id: pod.id.clone(),
                })
                .await
            });
        }
        // containerd itself goes when `self.containerd` drops, right after this.
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The CRI plugin's settings for a test node. `restrict_oom_score_adj`: this sandbox refuses a
/// negative oom_score_adj even to root, and CRI asks -998 for the pause container; real nodes
/// do not need it. containerd 1.7 drops its default `runc` when the config names any runtime,
/// and then refuses to load CRI, so it is named too (in 2.1 as well, for runc pods).
/// containerd 2.x enables NRI, whose socket defaults to one path for the whole machine: two
/// nodes at once would fight over it, so each node's is under its own root.
fn cri_config(version: Version, cni_dir: &Path, root: &Path) -> String {
    let cni_dir = cni_dir.display();
    let nri_socket = root.join("nri.sock");
    let nri_socket = nri_socket.display();
    match version {
        Version::V1_7 => format!(
            r#"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
    runtime_type = "io.containerd.spin.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_dir}"
"#
        ),
        Version::V2_1 => format!(
            r#"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{PAUSE_IMAGE}"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.{HANDLER}]
    runtime_type = "io.containerd.spin.v2"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{cni_dir}"
[plugins."io.containerd.nri.v1.nri"]
  socket_path = "{nri_socket}"
"#
        ),
    }
}

/// A bridge with the host as gateway (the test reaches pod IPs directly) and host-local
/// addresses kept under the test's directory.
fn cni_conflist(bridge: &str, subnet: &str, ipam_dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": format!("{bridge}-net"),
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "dataDir": ipam_dir,
                },
            },
            {"type": "loopback"},
        ],
    })
    .to_string()
}

fn import(containerd: &Containerd, tar: &Path) {
    let tar = tar.to_str().unwrap();
    let mut args = vec!["-n", NAMESPACE, "images", "import", "--all-platforms"];
    // containerd 2's CRI lists the images it manages by this label; 1.7's ctr has no --label
    // and its CRI takes every image in the namespace.
    if containerd.version() == Version::V2_1 {
        args.extend(["--label", "io.cri-containerd.image=managed"]);
    }
    args.push(tar);
    containerd.ctr_ok(&args);
}

/// A short tag unique to this process and call, for interface names (15 characters at most).
fn unique_tag() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The third octet of a test node's subnet: differs between nodes of one process.
fn tag_octet() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(0);
    (std::process::id() as u8)
        .wrapping_mul(13)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}
