//! Spin's runtime config file (`runtime-config.toml`): where labelled key-value stores and
//! SQLite databases live, and where variable values come from besides `SPIN_VARIABLE_<NAME>`.
//! `spin up --runtime-config-file` reads it; in a container the shim reads
//! `/runtime-config.toml` when the image has one.
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
//!
//! [[variables_provider]]         # asked in order, after SPIN_VARIABLE_<NAME>
//! type = "env"
//! prefix = "MYAPP"               # MYAPP_<NAME>
//! dotenv_path = "app.env"        # then this file (relative to this file)
//!
//! [[variables_provider]]
//! type = "static"
//! values = { api_host = "api.example.com" }
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
    /// Where variable values come from, in order (Spin 2 called the section `config_provider`).
    #[serde(default, rename = "variables_provider", alias = "config_provider")]
    pub variables_providers: Vec<VariablesProvider>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VariablesProvider {
    Env(EnvProvider),
    Static(StaticProvider),
    /// Secret stores Spin can read; named so they are refused by name, not as unknown.
    Vault(serde::de::IgnoredAny),
    AzureKeyVault(serde::de::IgnoredAny),
}

/// Variables from environment variables `<PREFIX>_<NAME>`, then from a dotenv file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvProvider {
    /// `SPIN_VARIABLE` when absent.
    pub prefix: Option<String>,
    pub dotenv_path: Option<PathBuf>,
    /// The dotenv file's entries, read with the runtime config so a bad file stops the app.
    #[serde(skip)]
    pub dotenv: BTreeMap<String, String>,
}

/// Variables given in the runtime config itself.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticProvider {
    pub values: BTreeMap<String, String>,
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
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::RuntimeConfig(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text, path)
    }

    /// Reads a runtime config's text; `path` is where it came from (errors name it, relative
    /// paths in it are taken from its directory).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, EngineError> {
        let fail = |e: &dyn std::fmt::Display| {
            EngineError::RuntimeConfig(format!("{}: {e}", path.display()))
        };
        let mut config: Self = toml::from_str(text).map_err(|e| fail(&e))?;
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
        let unsupported = |kind: &str| {
            fail(&format!(
                "[[variables_provider]] type = \"{kind}\" is not supported: variables come from \
                 the environment (the pod's env in Kubernetes) and from \"env\" and \"static\" \
                 providers"
            ))
        };
        for provider in &mut config.variables_providers {
            match provider {
                VariablesProvider::Env(env) => {
                    if let Some(dotenv_path) = &env.dotenv_path {
                        let dotenv_path = base.join(dotenv_path);
                        env.dotenv = read_dotenv(&dotenv_path).map_err(|e| {
                            fail(&format!("dotenv_path {}: {e}", dotenv_path.display()))
                        })?;
                    }
                }
                VariablesProvider::Static(_) => {}
                VariablesProvider::Vault(_) => return Err(unsupported("vault")),
                VariablesProvider::AzureKeyVault(_) => return Err(unsupported("azure_key_vault")),
            }
        }
        Ok(config)
    }
}

/// The entries of a dotenv file (`KEY=value` lines), as an `env` provider and `spinrt up`'s
/// working-directory `.env` read them.
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, dotenvy::Error> {
    dotenvy::from_path_iter(path)?.collect()
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
    fn variables_providers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("app.env"),
            "# comment\nAPP_X=\"quoted value\"\n",
        )
        .unwrap();
        let path = dir.path().join("runtime-config.toml");
        std::fs::write(
            &path,
            "[[config_provider]]\ntype = \"env\"\nprefix = \"APP\"\ndotenv_path = \"app.env\"\n\
             [[config_provider]]\ntype = \"static\"\nvalues = { x = \"1\" }\n",
        )
        .unwrap();
        let c = RuntimeConfig::from_file(&path).unwrap();
        match c.variables_providers.as_slice() {
            [
                VariablesProvider::Env(env),
                VariablesProvider::Static(values),
            ] => {
                assert_eq!(env.prefix.as_deref(), Some("APP"));
                assert_eq!(env.dotenv["APP_X"], "quoted value");
                assert_eq!(values.values["x"], "1");
            }
            other => panic!("{other:?}"),
        }
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
            (
                "[[variables_provider]]\ntype = \"azure_key_vault\"\n",
                "type = \"azure_key_vault\" is not supported",
            ),
            (
                "[[variables_provider]]\ntype = \"env\"\npefix = \"X\"\n",
                "unknown field `pefix`",
            ),
            (
                "[[variables_provider]]\ntype = \"env\"\ndotenv_path = \"nope.env\"\n",
                "nope.env",
            ),
            (
                "[[variables_provider]]\ntype = \"static\"\nvalues = { x = 1 }\n",
                "invalid type: integer",
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
