//! A plain image's Wasm (a `spin.toml` and `.wasm` files in the rootfs), read by the daemon so
//! it can be compiled once per node like an artifact's. Every file is opened inside the rootfs
//! (`RESOLVE_IN_ROOT`): a symbolic link or `..` in the image cannot lead the daemon out of it.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use sha2::{Digest, Sha256};

/// A Wasm file no component may exceed (the server's memory limits apply later anyway).
const MAX_WASM: u64 = 256 << 20;

pub struct PlainWasm {
    pub digest: String,
    pub bytes: Vec<u8>,
}

/// Opens `path` (absolute inside the image, or relative to its root) for reading.
fn open_in(root: &File, path: &Path) -> Result<File> {
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root.as_raw_fd(), path, how)
        .with_context(|| format!("opening {} in the image", path.display()))?;
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn read_in(root: &File, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_in(root, path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {} in the image", path.display()))?;
    anyhow::ensure!(
        bytes.len() as u64 <= limit,
        "{} in the image is larger than {limit} bytes",
        path.display()
    );
    Ok(bytes)
}

/// The Wasm of each component the manifest at `manifest` (inside `rootfs`) names by a local
/// `source` path (manifest versions 1 and 2); components fetched by URL are left out.
pub fn component_wasm(rootfs: &Path, manifest: &Path) -> Result<Vec<PlainWasm>> {
    let root = File::open(rootfs).with_context(|| format!("opening {}", rootfs.display()))?;
    let text =
        String::from_utf8(read_in(&root, manifest, 1 << 20)?).context("spin.toml is not UTF-8")?;
    let toml: toml::Table = toml::from_str(&text).context("spin.toml is not TOML")?;
    let base = manifest.parent().unwrap_or(Path::new("/"));
    let mut wasm = Vec::new();
    for source in sources(&toml) {
        let bytes = read_in(&root, &base.join(source), MAX_WASM)?;
        wasm.push(PlainWasm {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
            bytes,
        });
    }
    Ok(wasm)
}

/// `source = "path"` of every component: `[component.<id>]` tables (version 2) or
/// `[[component]]` entries (version 1).
fn sources(toml: &toml::Table) -> Vec<PathBuf> {
    let components: Vec<&toml::Value> = match toml.get("component") {
        Some(toml::Value::Table(t)) => t.values().collect(),
        Some(toml::Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    };
    let mut sources: Vec<PathBuf> = components
        .iter()
        .filter_map(|c| c.get("source")?.as_str().map(PathBuf::from))
        .collect();
    sources.sort();
    sources.dedup();
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_of_both_manifest_versions() {
        let v2: toml::Table = toml::from_str(
            r#"
            spin_manifest_version = 2
            [component.a]
            source = "a.wasm"
            [component.b]
            source = "a.wasm"
            [component.c]
            source = { url = "https://example.com/c.wasm", digest = "sha256:00" }
            "#,
        )
        .unwrap();
        assert_eq!(sources(&v2), vec![PathBuf::from("a.wasm")]);
        let v1: toml::Table = toml::from_str(
            r#"
            spin_manifest_version = "1"
            [[component]]
            id = "x"
            source = "target/x.wasm"
            "#,
        )
        .unwrap();
        assert_eq!(sources(&v1), vec![PathBuf::from("target/x.wasm")]);
    }

    #[test]
    fn files_are_read_inside_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::write(dir.path().join("outside.wasm"), b"host file").unwrap();
        std::os::unix::fs::symlink("../outside.wasm", rootfs.join("escape.wasm")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.wasm"), rootfs.join("abs.wasm"))
            .unwrap();
        std::fs::write(
            rootfs.join("spin.toml"),
            "[component.a]\nsource = \"escape.wasm\"\n",
        )
        .unwrap();
        // `..` stops at the image's root, and an absolute link is taken inside it.
        assert!(component_wasm(&rootfs, Path::new("/spin.toml")).is_err());
        std::fs::write(
            rootfs.join("spin.toml"),
            "[component.a]\nsource = \"abs.wasm\"\n",
        )
        .unwrap();
        assert!(component_wasm(&rootfs, Path::new("/spin.toml")).is_err());
        std::fs::write(rootfs.join("in.wasm"), b"\0asm").unwrap();
        std::fs::write(
            rootfs.join("spin.toml"),
            "[component.a]\nsource = \"in.wasm\"\n",
        )
        .unwrap();
        let wasm = component_wasm(&rootfs, Path::new("/spin.toml")).unwrap();
        assert_eq!(wasm[0].bytes, b"\0asm");
    }
}
