//! Resolving a component's `files` and `exclude_files` into concrete mounts.
//!
//! Nothing a manifest says may place or read a file outside the app's own directory.

use std::path::{Component as PathComponent, Path, PathBuf};

use crate::{AppError, FileMount, Result};

/// A `files` entry as written in `spin.toml`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum FilesEntry {
    /// A path or glob relative to the app directory, mounted at the same relative path.
    Pattern(String),
    /// A file or directory mounted at an absolute guest path.
    Placement { source: String, destination: String },
}

/// Resolves entries relative to `root` into file mounts.
pub fn resolve(
    component: &str,
    root: &Path,
    entries: &[FilesEntry],
    exclude: &[String],
) -> Result<Vec<FileMount>> {
    let err = |m: String| AppError::component(component, m);
    let excludes = exclude
        .iter()
        .map(|p| glob::Pattern::new(p).map_err(|e| err(format!("exclude_files '{p}': {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let excluded = |rel: &Path| excludes.iter().any(|p| p.matches_path(rel));

    let mut mounts = Vec::new();
    for entry in entries {
        match entry {
            FilesEntry::Pattern(pattern) => {
                let rel =
                    relative_inside(pattern).map_err(|e| err(format!("files '{pattern}': {e}")))?;
                let path = root.join(&rel);
                if path.is_file() {
                    if !excluded(&rel) {
                        mounts.push(FileMount {
                            source: path,
                            destination: Path::new("/").join(&rel),
                        });
                    }
                } else if path.is_dir() {
                    for file in
                        walk_files(&path).map_err(|e| err(format!("files '{pattern}': {e}")))?
                    {
                        let rel = file
                            .strip_prefix(root)
                            .expect("walked below root")
                            .to_path_buf();
                        if !excluded(&rel) {
                            mounts.push(FileMount {
                                source: file,
                                destination: Path::new("/").join(rel),
                            });
                        }
                    }
                } else if pattern.contains(['*', '?', '[']) {
                    let full = root.join(pattern);
                    let full = full
                        .to_str()
                        .ok_or_else(|| err(format!("files '{pattern}': not UTF-8")))?;
                    let paths =
                        glob::glob(full).map_err(|e| err(format!("files '{pattern}': {e}")))?;
                    for path in paths {
                        let path = path.map_err(|e| err(format!("files '{pattern}': {e}")))?;
                        if !path.is_file() {
                            continue;
                        }
                        let rel = path
                            .strip_prefix(root)
                            .expect("glob below root")
                            .to_path_buf();
                        if !excluded(&rel) {
                            mounts.push(FileMount {
                                source: path,
                                destination: Path::new("/").join(rel),
                            });
                        }
                    }
                } else {
                    return Err(err(format!(
                        "files '{pattern}': {} does not exist and is not a glob pattern",
                        path.display()
                    )));
                }
            }
            FilesEntry::Placement {
                source,
                destination,
            } => {
                let rel = relative_inside(source)
                    .map_err(|e| err(format!("files source '{source}': {e}")))?;
                let dest = Path::new(destination);
                if !dest.is_absolute() {
                    return Err(err(format!(
                        "files destination '{destination}' must be an absolute path"
                    )));
                }
                let dest_rel = destination.trim_start_matches('/');
                if !dest_rel.is_empty() {
                    relative_inside(dest_rel)
                        .map_err(|e| err(format!("files destination '{destination}': {e}")))?;
                }
                let path = root.join(&rel);
                if !path.exists() {
                    return Err(err(format!(
                        "files source '{source}': {} does not exist",
                        path.display()
                    )));
                }
                mounts.push(FileMount {
                    source: path,
                    destination: dest.to_path_buf(),
                });
            }
        }
    }
    Ok(mounts)
}

/// A relative path that stays inside its base: no root, no `..`.
pub fn relative_inside(path: &str) -> std::result::Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            PathComponent::Normal(p) => out.push(p),
            PathComponent::CurDir => {}
            PathComponent::ParentDir => return Err("'..' would leave the app directory".into()),
            PathComponent::RootDir | PathComponent::Prefix(_) => {
                return Err("must be relative to the app directory".into());
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err("names no file".into());
    }
    Ok(out)
}

fn walk_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(entry.path());
            } else if ty.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_dirs_never_escape() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "..", "."] {
            assert!(relative_inside(bad).is_err(), "{bad}");
        }
        assert_eq!(relative_inside("./a/b").unwrap(), PathBuf::from("a/b"));
    }

    #[test]
    fn resolves_patterns_dirs_and_placements() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("static/sub")).unwrap();
        std::fs::write(root.join("static/a.txt"), "a").unwrap();
        std::fs::write(root.join("static/sub/b.txt"), "b").unwrap();
        std::fs::write(root.join("static/skip.bak"), "x").unwrap();
        std::fs::write(root.join("one.txt"), "1").unwrap();
        let entries = vec![
            FilesEntry::Pattern("static/**/*".into()),
            FilesEntry::Pattern("one.txt".into()),
            FilesEntry::Placement {
                source: "static".into(),
                destination: "/assets".into(),
            },
        ];
        let mounts = resolve("c", root, &entries, &["**/*.bak".into()]).unwrap();
        let dests: Vec<_> = mounts
            .iter()
            .map(|m| m.destination.display().to_string())
            .collect();
        assert_eq!(
            dests,
            ["/static/a.txt", "/static/sub/b.txt", "/one.txt", "/assets"]
        );
    }

    #[test]
    fn traversal_in_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![FilesEntry::Placement {
            source: "../../etc".into(),
            destination: "/etc".into(),
        }];
        let err = resolve("c", dir.path(), &entries, &[]).unwrap_err();
        assert!(err.to_string().contains("'..' would leave"), "{err}");
    }
}
