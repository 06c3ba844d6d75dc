//! The precompile cache: compiled components on disk, keyed by the sha256 of the Wasm bytes,
//! in a folder per engine compatibility hash (a new wasmtime or engine config never reads
//! another's artifacts).
//!
//! Deserializing machine code is only safe for bytes we wrote ourselves, so each entry carries
//! the sha256 of its payload: a truncated or altered entry fails that check and is compiled
//! again, never loaded.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"SPINRTC1";
const HEADER: usize = MAGIC.len() + 32;

#[derive(Clone, Debug)]
pub struct PrecompileCache {
    dir: PathBuf,
}

impl PrecompileCache {
    pub fn new(root: &Path, engine: &wasmtime::Engine) -> std::io::Result<Self> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file an entry lives in.
    pub fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// A compiled component, if a sound entry exists; an unsound one is removed.
    pub fn get(&self, engine: &wasmtime::Engine, key: &str) -> Option<Component> {
        let path = self.entry_path(key);
        let bytes = std::fs::read(&path).ok()?;
        let payload = match verified_payload(&bytes) {
            Ok(payload) => payload,
            Err(why) => {
                log::warn!(
                    "precompile cache entry {} is {why}: compiling again",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                return None;
            }
        };
        // SAFETY: the payload is exactly what `put` serialized with an engine of the same
        // compatibility hash (the checksum above proves it is unaltered).
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(component) => Some(component),
            Err(e) => {
                log::warn!(
                    "precompile cache entry {} cannot be loaded ({e}): compiling again",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component; written to a temporary file and renamed, so a reader never
    /// sees half an entry.
    pub fn put(&self, key: &str, component: &Component) -> std::io::Result<()> {
        let payload = component.serialize().map_err(std::io::Error::other)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&Sha256::digest(&payload))?;
        tmp.write_all(&payload)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.entry_path(key)).map_err(|e| e.error)?;
        Ok(())
    }
}

fn verified_payload(bytes: &[u8]) -> Result<&[u8], &'static str> {
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a cache entry");
    }
    let (sum, payload) = bytes[MAGIC.len()..].split_at(32);
    if Sha256::digest(payload).as_slice() != sum {
        return Err("corrupt (checksum mismatch)");
    }
    Ok(payload)
}
