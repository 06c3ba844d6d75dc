//! `spin_manifest_version = "1"` (and the older `spin_version = "1"`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::common::{self, ComponentParts, ExecutorDecl, SourceDecl, VariableDecl};
use crate::files::FilesEntry;
use crate::routes::Route;
use crate::{App, AppError, HttpTrigger, RedisTrigger, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    #[allow(dead_code)]
    spin_manifest_version: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    spin_version: Option<String>,
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    trigger: AppTrigger,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    component: Vec<ComponentDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppTrigger {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    base: Option<String>,
    /// The Redis trigger's server.
    #[serde(default)]
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentDecl {
    id: String,
    source: SourceDecl,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    files: Vec<FilesEntry>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    trigger: ComponentTrigger,
    #[serde(default)]
    #[allow(dead_code)]
    build: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentTrigger {
    /// An HTTP trigger's.
    #[serde(default)]
    route: Option<String>,
    /// A Redis trigger's.
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    executor: Option<ExecutorDecl>,
}

pub fn parse(text: &str, dir: &Path) -> Result<App> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| AppError::Manifest {
        path: dir.join(super::MANIFEST_FILE),
        message: e.to_string(),
    })?;
    let redis = match manifest.trigger.kind.as_str() {
        "http" => false,
        "redis" => true,
        other => {
            return Err(AppError::Unsupported(format!(
                "trigger type '{other}': this runtime runs the http and redis triggers only"
            )));
        }
    };
    if let Some(base) = manifest.trigger.base.as_deref().filter(|b| *b != "/") {
        return Err(AppError::Unsupported(format!(
            "trigger base '{base}': only '/' is supported (Spin 2 deprecated base paths)"
        )));
    }
    let variables = common::variables(manifest.variables)?;
    let mut components = Vec::new();
    let mut http_triggers = Vec::new();
    let mut redis_triggers = Vec::new();
    for decl in manifest.component {
        // Spin 1 allowed snake_case ids; Spin 2 turns them into kebab case, and so do we.
        let id = decl.id.replace('_', "-");
        common::validate_kebab_id(&id).map_err(|m| AppError::component(&decl.id, m))?;
        let trigger_id = format!("trigger-{id}");
        let missing = |field: &str| {
            AppError::component(&decl.id, format!("[component.trigger] has no '{field}'"))
        };
        if redis {
            redis_triggers.push(RedisTrigger {
                id: trigger_id,
                component: id.clone(),
                channel: decl.trigger.channel.ok_or_else(|| missing("channel"))?,
                address: None,
            });
        } else {
            let executor = common::executor(decl.trigger.executor)
                .map_err(|e| AppError::trigger(&trigger_id, e))?;
            http_triggers.push(HttpTrigger {
                id: trigger_id,
                route: Route::Path(decl.trigger.route.ok_or_else(|| missing("route"))?),
                component: id.clone(),
                executor,
            });
        }
        let parts = ComponentParts {
            id,
            description: decl.description,
            source: decl.source,
            files: decl.files,
            exclude_files: decl.exclude_files,
            allowed_http_hosts: decl.allowed_http_hosts,
            allowed_outbound_hosts: decl.allowed_outbound_hosts,
            environment: decl.environment,
            variables: decl.config,
            key_value_stores: decl.key_value_stores,
            sqlite_databases: decl.sqlite_databases,
            ai_models: decl.ai_models,
        };
        components.push(parts.into_component(dir)?);
    }
    Ok(App {
        name: manifest.name,
        version: manifest.version.filter(|v| !v.is_empty()),
        description: manifest.description.filter(|d| !d.is_empty()),
        authors: manifest.authors,
        variables,
        components,
        http_triggers,
        redis_triggers,
        command_triggers: Vec::new(),
        cron_triggers: Vec::new(),
        mqtt_triggers: Vec::new(),
        sqs_triggers: Vec::new(),
        mqtt_broker: None,
        redis_address: manifest.trigger.address,
    })
}
