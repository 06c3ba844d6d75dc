//! Adding the `spin` runtime to a containerd `config.toml`, and taking it out again, without
//! touching anything else in the file (comments and formatting included, through `toml_edit`).
//!
//! containerd 1.6/1.7 read config version 2, where CRI runtimes live under
//! `plugins."io.containerd.grpc.v1.cri".containerd.runtimes`; containerd 2.x reads version 3,
//! where they live under `plugins."io.containerd.cri.v1.runtime".containerd.runtimes`.

use toml_edit::{DocumentMut, Item, Table, value};

/// The handler name a RuntimeClass refers to, and the runtime type containerd maps to our shim.
pub const HANDLER: &str = "spin";
pub const RUNTIME_TYPE: &str = "io.containerd.spin.v2";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("not TOML: {0}")]
    Syntax(String),
    #[error(
        "config version {0} is not supported: containerd 1.6/1.7 use version 2, containerd 2.x \
         version 3 (`containerd config migrate` converts older files)"
    )]
    Version(i64),
    #[error("{0} is not a table")]
    NotATable(String),
}

const V2_RUNTIMES: [&str; 4] = [
    "plugins",
    "io.containerd.grpc.v1.cri",
    "containerd",
    "runtimes",
];
/// containerd 1.6/1.7 replace their built-in runtimes with the ones a config names, and then
/// refuse to load CRI when `default_runtime_name` (`runc` unless set) is not among them: every
/// pod on the node would fail. A config that names no runc gets it back, marked so uninstall
/// takes it out again. containerd 2.x keeps its built-in runc.
const V2_DEFAULT_RUNTIME: &str = "runc";
const RUNC_MARKER: &str = "# added by spinrt install: containerd 1.7 drops its built-in runc once a config names a runtime";

/// The path of the CRI runtimes table for a config version.
fn runtimes_path(version: i64) -> Result<[&'static str; 4], ConfigError> {
    match version {
        2 => Ok(V2_RUNTIMES),
        3 => Ok([
            "plugins",
            "io.containerd.cri.v1.runtime",
            "containerd",
            "runtimes",
        ]),
        v => Err(ConfigError::Version(v)),
    }
}

fn parse(text: &str) -> Result<(DocumentMut, [&'static str; 4]), ConfigError> {
    let doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| ConfigError::Syntax(e.to_string()))?;
    // containerd treats a file without `version` as version 1.
    let version = doc.get("version").and_then(Item::as_integer).unwrap_or(1);
    let path = runtimes_path(version)?;
    Ok((doc, path))
}

/// The config with the `spin` runtime added; `None` when it is already there as we would
/// write it (so applying twice changes nothing).
pub fn add_runtime(text: &str) -> Result<Option<String>, ConfigError> {
    let (mut doc, path) = parse(text)?;
    let default_runtime = doc
        .get("plugins")
        .and_then(|p| p.get(V2_RUNTIMES[1]))
        .and_then(|c| c.get("containerd"))
        .and_then(|c| c.get("default_runtime_name"))
        .and_then(Item::as_str)
        .unwrap_or(V2_DEFAULT_RUNTIME)
        .to_string();
    let mut table = doc.as_table_mut();
    for (depth, key) in path.iter().enumerate() {
        let entry = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError::NotATable(path[..=depth].join(".")))?;
    }
    let existing = table.get(HANDLER).and_then(|t| t.get("runtime_type"));
    if existing.and_then(Item::as_str) == Some(RUNTIME_TYPE) {
        return Ok(None);
    }
    if path == V2_RUNTIMES
        && default_runtime == V2_DEFAULT_RUNTIME
        && !table.contains_key(V2_DEFAULT_RUNTIME)
    {
        let mut runc = Table::new();
        runc.decor_mut().set_prefix(format!("{RUNC_MARKER}\n"));
        runc.insert("runtime_type", value("io.containerd.runc.v2"));
        table.insert(V2_DEFAULT_RUNTIME, Item::Table(runc));
    }
    let mut spin = Table::new();
    spin.insert("runtime_type", value(RUNTIME_TYPE));
    table.insert(HANDLER, Item::Table(spin));
    Ok(Some(doc.to_string()))
}

/// The config without the `spin` runtime (and without the tables only it needed); `None` when
/// there is none.
pub fn remove_runtime(text: &str) -> Result<Option<String>, ConfigError> {
    let (mut doc, path) = parse(text)?;
    if !remove_at(doc.as_table_mut(), &path) {
        return Ok(None);
    }
    Ok(Some(doc.to_string()))
}

/// Removes `spin` (and the runc [`add_runtime`] added) below `path`; prunes implicit tables
/// left empty on the way back up.
fn remove_at(table: &mut Table, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        let added_runc = table
            .get(V2_DEFAULT_RUNTIME)
            .and_then(Item::as_table)
            .and_then(|t| t.decor().prefix()?.as_str())
            .is_some_and(|p| p.contains(RUNC_MARKER));
        let removed = table.remove(HANDLER).is_some();
        if removed && added_runc {
            table.remove(V2_DEFAULT_RUNTIME);
        }
        return removed;
    };
    let Some(child) = table.get_mut(first).and_then(Item::as_table_mut) else {
        return false;
    };
    let removed = remove_at(child, rest);
    if removed && child.is_empty() && child.is_implicit() {
        table.remove(first);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = "# a comment of the admin\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.9\" # pinned\n";

    #[test]
    fn adds_once_and_removes_back_to_the_original() {
        let added = add_runtime(V2).unwrap().unwrap();
        assert!(added.starts_with("# a comment of the admin\n"), "{added}");
        assert!(
            added.contains("sandbox_image = \"pause:3.9\" # pinned"),
            "{added}"
        );
        assert!(added.contains(
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.spin]\nruntime_type = \"io.containerd.spin.v2\""
        ), "{added}");
        assert_eq!(add_runtime(&added).unwrap(), None);
        assert_eq!(remove_runtime(&added).unwrap().unwrap(), V2);
        assert_eq!(remove_runtime(V2).unwrap(), None);
    }

    #[test]
    fn a_minimal_version_2_config_keeps_runc() {
        let added = add_runtime("version = 2\n").unwrap().unwrap();
        let runc = added
            .find("containerd.runtimes.runc]\nruntime_type = \"io.containerd.runc.v2\"")
            .expect(&added);
        assert!(runc < added.find("runtimes.spin]").unwrap(), "{added}");
        assert_eq!(add_runtime(&added).unwrap(), None);
        assert_eq!(remove_runtime(&added).unwrap().unwrap(), "version = 2\n");
    }

    #[test]
    fn version_3_uses_the_cri_runtime_plugin() {
        let added = add_runtime("version = 3\n").unwrap().unwrap();
        assert!(
            added.contains("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.spin]"),
            "{added}"
        );
        assert_eq!(remove_runtime(&added).unwrap().unwrap(), "version = 3\n");
    }

    #[test]
    fn a_different_spin_runtime_is_replaced() {
        let old = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.spin]\nruntime_type = \"io.containerd.spin.v1\"\n";
        let added = add_runtime(old).unwrap().unwrap();
        assert!(
            added.contains("io.containerd.spin.v2") && !added.contains("spin.v1"),
            "{added}"
        );
    }

    #[test]
    fn bad_configs_are_named() {
        assert_eq!(add_runtime("root = \"/x\"\n"), Err(ConfigError::Version(1)));
        assert!(matches!(
            add_runtime("version = [\n"),
            Err(ConfigError::Syntax(_))
        ));
        assert_eq!(
            add_runtime("version = 2\nplugins = 3\n"),
            Err(ConfigError::NotATable("plugins".into()))
        );
    }
}
