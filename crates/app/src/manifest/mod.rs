//! Reading `spin.toml`, version 1 and version 2, into an [`App`].

pub(crate) mod common;
mod v1;
mod v2;

use std::path::{Path, PathBuf};

use crate::{App, AppError, Result};

/// The manifest's file name when a directory is given.
pub const MANIFEST_FILE: &str = "spin.toml";

/// Finds the manifest: `path` itself, or `spin.toml` inside it when it is a directory.
pub fn manifest_path(path: &Path) -> Result<PathBuf> {
    let path = if path.is_dir() {
        path.join(MANIFEST_FILE)
    } else {
        path.to_path_buf()
    };
    if !path.is_file() {
        return Err(AppError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such manifest file"),
        });
    }
    // Absolute, so that a bare `spin.toml` has a directory (its parent is "", not ".").
    std::path::absolute(&path).map_err(|source| AppError::Io { path, source })
}

/// Loads and validates a manifest from a file, or from a directory holding `spin.toml`.
/// Relative paths in it are resolved against the manifest's directory.
pub fn load(path: &Path) -> Result<App> {
    let path = manifest_path(path)?;
    let text = std::fs::read_to_string(&path).map_err(|source| AppError::Io {
        path: path.clone(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    parse(&text, dir).map_err(|e| match e {
        AppError::Manifest { message, .. } => AppError::Manifest { path, message },
        other => other,
    })
}

/// Parses manifest text; `dir` is the directory relative paths are resolved against.
pub fn parse(text: &str, dir: &Path) -> Result<App> {
    let err = |message: String| AppError::Manifest {
        path: dir.join(MANIFEST_FILE),
        message,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let app = match (
        table.get("spin_manifest_version"),
        table.get("spin_version"),
    ) {
        (Some(toml::Value::Integer(2)), _) => v2::parse(text, dir, &table)?,
        (Some(toml::Value::String(v)), _) if v == "2" => v2::parse(text, dir, &table)?,
        (Some(toml::Value::String(v)), _) if v == "1" => v1::parse(text, dir)?,
        (None, Some(toml::Value::String(v))) if v == "1" => v1::parse(text, dir)?,
        (Some(other), _) | (None, Some(other)) => {
            return Err(err(format!(
                "unknown manifest version {other}: this runtime reads spin_manifest_version = 2 and \"1\""
            )));
        }
        (None, None) => {
            return Err(err(
                "missing spin_manifest_version (expected spin_manifest_version = 2)".into(),
            ));
        }
    };
    crate::model::validate(&app)?;
    Ok(app)
}
