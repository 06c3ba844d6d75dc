//! A container's stdio as containerd names it: a FIFO path (what CRI and `ctr run` give), a
//! `file://` URI (`ctr run --log-uri`), or nothing.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Opens one of the container's stdio streams. A FIFO is opened read-write, so opening never
/// waits for the other end; the child gets its own copy and the shim closes this one. An empty
/// name is `/dev/null`.
pub fn open(name: &str) -> std::io::Result<File> {
    if name.is_empty() {
        return OpenOptions::new().read(true).write(true).open("/dev/null");
    }
    if let Some(path) = name.strip_prefix("file://") {
        if let Some(dir) = Path::new(path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        return OpenOptions::new().create(true).append(true).open(path);
    }
    if let Some((scheme, _)) = name.split_once("://") {
        return Err(std::io::Error::other(format!(
            "stdio through {scheme}:// is not supported (FIFOs and file:// are)"
        )));
    }
    OpenOptions::new().read(true).write(true).open(name)
}
