//! Spin's runtime config file (`runtime-config.toml`): where labelled key-value stores and
//! SQLite databases live. `spin up --runtime-config-file` reads it; in a container the shim
//! reads `/runtime-config.toml` when the image has one.
//!
//! ```toml
//! [key_value_store.default]
//! type = "spin"                  # a SQLite file
//! path = "data/kv.db"            # relative to this file
//!
//! [key_value_store.cache]
//! type = "redis"
//! url = "redis://localhost:6379"
//!
//! [sqlite_database.default]
//! type = "spin"
//! path = "data/app.db"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::EngineError;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub key_value_store: BTreeMap<String, KeyValueStoreConfig>,
    #[serde(default)]
    pub sqlite_database: BTreeMap<String, SqliteDatabaseConfig>,
    /// Spin's secret stores for variables (Vault, Azure Key Vault): read only to refuse them
    /// by name, since this runtime takes variable values from the environment alone.
    #[serde(default)]
    config_provider: Vec<ProviderConfig>,
}

#[derive(Clone, Debug, Deserialize)]
struct ProviderConfig {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KeyValueStoreConfig {
    /// A SQLite file; without `path`, a file in the app's state directory.
    Spin(SpinStore),
    Redis(RedisStore),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SqliteDatabaseConfig {
    Spin(SpinStore),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpinStore {
    pub path: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStore {
    pub url: String,
}

impl RuntimeConfig {
    /// Reads a runtime config file; relative paths in it are taken from the file's directory.
    pub fn from_file(path: &Path) -> Result<Self, EngineError> {
        let fail = |e: &dyn std::fmt::Display| {
            EngineError::RuntimeConfig(format!("{}: {e}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
        let mut config: Self = toml::from_str(&text).map_err(|e| fail(&e))?;
        if let Some(provider) = config.config_provider.first() {
            return Err(fail(&format!(
                "[[config_provider]] type = \"{}\" is not supported: variables come from the \
                 environment (SPIN_VARIABLE_<NAME>, the pod's env in Kubernetes)",
                provider.kind
            )));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let stores = config.key_value_store.values_mut().filter_map(|s| match s {
            KeyValueStoreConfig::Spin(s) => Some(s),
            KeyValueStoreConfig::Redis(_) => None,
        });
        let databases = config
            .sqlite_database
            .values_mut()
            .map(|SqliteDatabaseConfig::Spin(s)| s);
        for store in stores.chain(databases) {
            if let Some(p) = &mut store.path
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime-config.toml");
        std::fs::write(&path, text).unwrap();
        RuntimeConfig::from_file(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn stores_and_databases() {
        let c = parse(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n\
             [key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://localhost\"\n\
             [sqlite_database.default]\ntype = \"spin\"\n",
        )
        .unwrap();
        match &c.key_value_store["default"] {
            KeyValueStoreConfig::Spin(s) => assert!(s.path.as_ref().unwrap().ends_with("kv.db")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.key_value_store["cache"],
            KeyValueStoreConfig::Redis(_)
        ));
        assert!(c.sqlite_database.contains_key("default"));
    }

    #[test]
    fn errors_name_the_field() {
        for (text, want) in [
            (
                "[key_value_store.x]\ntype = \"dynamo\"\n",
                "unknown variant `dynamo`",
            ),
            (
                "[key_value_store.x]\ntype = \"redis\"\n",
                "missing field `url`",
            ),
            (
                "[key_value_store.x]\ntype = \"spin\"\npth = \"a\"\n",
                "unknown field `pth`",
            ),
            (
                "[sqlite_database.x]\ntype = \"libsql\"\n",
                "unknown variant `libsql`",
            ),
            ("[variables]\nx = 1\n", "unknown field `variables`"),
            (
                "[[config_provider]]\ntype = \"vault\"\nurl = \"http://127.0.0.1:8200\"\n",
                "type = \"vault\" is not supported",
            ),
            ("[key_value_store.x\n", "runtime-config.toml"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
        let missing = RuntimeConfig::from_file(Path::new("/nonexistent/rc.toml")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/rc.toml"),
            "{missing}"
        );
    }
}
