//! Pieces both manifest versions share.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::files::{self, FilesEntry};
use crate::{AppError, Component, ComponentSource, HttpExecutor, Result, Variable, WagiConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

pub fn variables(decls: BTreeMap<String, VariableDecl>) -> Result<BTreeMap<String, Variable>> {
    decls
        .into_iter()
        .map(|(name, d)| {
            let verr = |message: String| AppError::Variable {
                name: name.clone(),
                message,
            };
            crate::variables::validate_name(&name).map_err(verr)?;
            match (d.required, &d.default) {
                (true, Some(_)) => {
                    return Err(verr("is `required` and has a `default`: choose one".into()));
                }
                (false, None) => {
                    return Err(verr("must be `required = true` or have a `default`".into()));
                }
                _ => {}
            }
            Ok((
                name,
                Variable {
                    description: d.description,
                    default: d.default,
                    secret: d.secret,
                },
            ))
        })
        .collect()
}

/// `source = "path.wasm"`, or a remote source we do not fetch.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SourceDecl {
    Path(String),
    Url {
        url: String,
        #[allow(dead_code)]
        digest: String,
    },
    Registry {
        #[allow(dead_code)]
        registry: Option<String>,
        package: String,
        #[allow(dead_code)]
        version: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "lowercase")]
pub enum ExecutorDecl {
    Http,
    Spin,
    Wagi {
        #[serde(default)]
        argv: Option<String>,
        /// Deprecated in Spin, which refuses any but `_start`.
        #[serde(default)]
        entrypoint: Option<String>,
    },
}

/// The executor a trigger declares; `Err` says why it cannot be used.
pub fn executor(decl: Option<ExecutorDecl>) -> std::result::Result<HttpExecutor, String> {
    match decl {
        None | Some(ExecutorDecl::Http) | Some(ExecutorDecl::Spin) => Ok(HttpExecutor::Http),
        Some(ExecutorDecl::Wagi { argv, entrypoint }) => {
            if let Some(entry) = entrypoint.filter(|e| e != "_start") {
                return Err(format!(
                    "the WAGI executor's entrypoint '{entry}' is not supported (Spin deprecated \
                     'entrypoint'): a WAGI module runs from _start"
                ));
            }
            Ok(HttpExecutor::Wagi(WagiConfig {
                argv: argv.unwrap_or_else(|| WagiConfig::DEFAULT_ARGV.into()),
            }))
        }
    }
}

/// The fields of a component both versions have, already parsed.
pub struct ComponentParts {
    pub id: String,
    pub description: Option<String>,
    pub source: SourceDecl,
    pub files: Vec<FilesEntry>,
    pub exclude_files: Vec<String>,
    pub allowed_http_hosts: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub variables: BTreeMap<String, String>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub ai_models: Vec<String>,
}

impl ComponentParts {
    pub fn into_component(self, dir: &Path) -> Result<Component> {
        let id = self.id;
        let cerr = |m: String| AppError::component(&id, m);
        if !self.ai_models.is_empty() {
            return Err(AppError::Unsupported(format!(
                "component '{id}': ai_models (Serverless AI) is not available in this runtime"
            )));
        }
        let source = match self.source {
            SourceDecl::Path(p) => {
                let path = dir.join(&p);
                check_wasm_file(&path).map_err(|m| cerr(format!("source '{p}': {m}")))?;
                ComponentSource::File(path)
            }
            SourceDecl::Url { url, .. } => {
                return Err(AppError::Unsupported(format!(
                    "component '{id}': source url '{url}' is not supported: download it and use a local path"
                )));
            }
            SourceDecl::Registry { package, .. } => {
                return Err(AppError::Unsupported(format!(
                    "component '{id}': registry source '{package}' is not supported: use a local path"
                )));
            }
        };
        let files = files::resolve(&id, dir, &self.files, &self.exclude_files)?;
        let mut allowed_outbound_hosts = self.allowed_outbound_hosts;
        allowed_outbound_hosts.extend(
            self.allowed_http_hosts
                .iter()
                .map(|h| from_allowed_http_host(h)),
        );
        for name in self.variables.keys() {
            crate::variables::validate_name(name).map_err(&cerr)?;
        }
        Ok(Component {
            id,
            description: self.description.filter(|d| !d.is_empty()),
            source,
            files,
            allowed_outbound_hosts,
            environment: self.environment,
            variables: self.variables,
            key_value_stores: self.key_value_stores,
            sqlite_databases: self.sqlite_databases,
        })
    }
}

/// The deprecated `allowed_http_hosts` form, as Spin converts it.
fn from_allowed_http_host(host: &str) -> String {
    if host == "insecure:allow-all" {
        "*://*:*".to_string()
    } else if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    }
}

/// A component source must exist and start with the Wasm magic number.
fn check_wasm_file(path: &Path) -> std::result::Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut magic = [0u8; 4];
    match file.read_exact(&mut magic) {
        Ok(()) if &magic == b"\0asm" => Ok(()),
        _ => Err(format!("{} is not a WebAssembly file", path.display())),
    }
}

/// Component IDs: kebab case, as Spin 2 requires (`[a-z][a-z0-9]*(-[a-z0-9]+)*`).
pub fn validate_kebab_id(id: &str) -> std::result::Result<(), String> {
    let ok = id.split('-').all(|w| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }) && id.starts_with(|c: char| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{id}' is not a valid component id (kebab case: lowercase letters, digits, single hyphens, starting with a letter)"
        ))
    }
}
