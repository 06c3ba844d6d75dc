//! What the shim daemon tells the process that serves one Spin container, as JSON in a file of
//! the container's bundle.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spinrt_confine::Confinement;

/// The hidden subcommand that makes `containerd-shim-spin-v2` the server of one container.
pub const SUBCOMMAND: &str = "serve-container";

/// File descriptor on which the server waits for the task's Start (one byte; end of file
/// means the task was deleted before it started).
pub const START_FD: i32 = 3;

#[derive(Debug, Serialize, Deserialize)]
pub struct ServerTask {
    pub confinement: Confinement,
    /// The container's environment, `KEY=value`.
    pub env: Vec<String>,
    pub app: AppSource,
    /// Writable, inside the server's root: the app's unpacked files and state.
    pub work_dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum AppSource {
    /// A Spin artifact's config and layers, as files the daemon wrote (bound read-only).
    Artifact {
        config: LayerFile,
        layers: Vec<LayerFile>,
    },
    /// A plain image: the command names a `spin.toml` (or its directory) in the rootfs; the
    /// daemon compiled the Wasm it could read (machine code by the Wasm's digest, inside the
    /// root).
    Manifest {
        path: PathBuf,
        precompiled: Vec<(String, PathBuf)>,
    },
    /// No app: the pod's sandbox (pause) container. Once confined, the process becomes the
    /// container's command (`execve`, `args[0]` looked up in the container's `PATH`), which
    /// holds the pod's namespaces as under runc, without starting a runc per pod.
    Sandbox { args: Vec<String>, cwd: PathBuf },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LayerFile {
    pub media_type: String,
    pub digest: String,
    /// Inside the server's root.
    pub path: PathBuf,
    /// The file holds our engine's machine code for the Wasm layer `digest`, which the daemon
    /// compiled (never the server: machine code is trusted as it is).
    pub precompiled: bool,
}

impl ServerTask {
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )
    }
}
