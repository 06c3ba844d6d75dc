//! WASI 0.2 and 0.3 (`wasi:cli`, `wasi:clocks`, `wasi:filesystem`, `wasi:io` (0.2 only),
//! `wasi:random`, `wasi:sockets`): environment, stdio, the component's files, and TCP
//! connections to what `allowed_outbound_hosts` permits (no listening sockets, no UDP). Both
//! versions serve one [`WasiCtx`], so the same policy holds whichever a component imports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spinrt_app::Component;
use wasmtime::component::Linker;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx};

use super::outbound::OutboundPolicy;
use super::output::GuestOutput;

use crate::{EngineError, InstanceState};

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)
}

/// A CGI (WAGI) request as a command instance sees it: its arguments, environment (beside the
/// component's own) and stdin; the response is what it writes to `stdout`.
pub struct CgiStdio {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: bytes::Bytes,
    pub stdout: MemoryOutputPipe,
}

/// What every instance of one component gets from WASI.
#[derive(Clone, Debug)]
pub struct ComponentWasi {
    env: Vec<(String, String)>,
    /// A directory holding exactly the component's files, mounted read-only at `/`.
    files_root: Option<PathBuf>,
    outbound: Arc<OutboundPolicy>,
    output: GuestOutput,
}

impl ComponentWasi {
    /// Prepares the component's files under `files_dir` (hard links where possible, copies
    /// otherwise), so the guest sees only them and nothing around them.
    pub fn prepare(
        component: &Component,
        files_dir: Option<&Path>,
        outbound: Arc<OutboundPolicy>,
        output: GuestOutput,
    ) -> Result<Self, EngineError> {
        let files_root = if component.files.is_empty() {
            None
        } else {
            let base = files_dir.ok_or_else(|| {
                EngineError::component(
                    &component.id,
                    "has files but no state directory was given for them",
                )
            })?;
            let root = base.join(&component.id);
            materialize_files(component, &root)
                .map_err(|e| EngineError::component(&component.id, format!("files: {e}")))?;
            Some(root)
        };
        Ok(Self {
            env: component
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            files_root,
            outbound,
            output,
        })
    }

    pub fn ctx(&self, component: &str, cgi: Option<CgiStdio>) -> Result<WasiCtx, EngineError> {
        let mut builder = WasiCtx::builder();
        builder.stderr(self.output.stderr()).envs(&self.env);
        match cgi {
            Some(cgi) => {
                builder
                    .args(&cgi.args)
                    .envs(&cgi.env)
                    .stdin(MemoryInputPipe::new(cgi.stdin))
                    .stdout(cgi.stdout);
            }
            None => {
                builder.stdout(self.output.stdout());
            }
        }
        let policy = self.outbound.clone();
        builder
            .allow_ip_name_lookup(!policy.is_empty())
            .allow_tcp(true)
            .allow_udp(false)
            .socket_addr_check(move |addr, use_| {
                let allowed = match use_ {
                    SocketAddrUse::TcpConnect => policy.allows_socket(addr),
                    // wasmtime checks the implicit, ephemeral bind of every connect; a guest
                    // may not bind a port of its own (no listening).
                    SocketAddrUse::TcpBind => addr.port() == 0 && !policy.is_empty(),
                    _ => false,
                };
                Box::pin(async move { allowed })
            });
        if let Some(root) = &self.files_root {
            builder
                .preopened_dir(root, "/", FsPerms::ReadOnly)
                .map_err(|e| {
                    EngineError::component(component, format!("files at {}: {e}", root.display()))
                })?;
        }
        Ok(builder.build())
    }
}

fn materialize_files(component: &Component, root: &Path) -> std::io::Result<()> {
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    std::fs::create_dir_all(root)?;
    for mount in &component.files {
        let rel = mount
            .destination
            .strip_prefix("/")
            .unwrap_or(&mount.destination);
        let dest = root.join(rel);
        place(&mount.source, &dest)?;
    }
    Ok(())
}

/// Links or copies a file or a directory tree; symlinks in the source are not followed out.
fn place(source: &Path, dest: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(source)?;
    if meta.is_dir() {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            place(&entry.path(), &dest.join(entry.file_name()))?;
        }
    } else if meta.is_file() {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::hard_link(source, dest).is_err() {
            std::fs::copy(source, dest)?;
        }
    } else {
        log::warn!(
            "files: skipping {}, which is neither a file nor a directory",
            source.display()
        );
    }
    Ok(())
}
