//! `spin_manifest_version = 2`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::common::{self, ComponentParts, ExecutorDecl, SourceDecl, VariableDecl};
use crate::files::FilesEntry;
use crate::routes::Route;
use crate::{
    App, AppError, CommandTrigger, CronTrigger, HttpTrigger, MqttTrigger, RedisTrigger, Result,
    SqsQueue, SqsTrigger,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[allow(dead_code)]
    spin_manifest_version: toml::Value,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: Triggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Application {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    targets: Vec<toml::Value>,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Table>,
    #[serde(default)]
    #[allow(dead_code)]
    tool: toml::Table,
}

/// The trigger types this runtime runs; others are refused by name in [`parse`].
#[derive(Debug, Default, Deserialize)]
struct Triggers {
    #[serde(default)]
    http: Vec<HttpTriggerDecl>,
    #[serde(default)]
    redis: Vec<RedisTriggerDecl>,
    #[serde(default)]
    command: Vec<CommandTriggerDecl>,
    #[serde(default)]
    cron: Vec<CronTriggerDecl>,
    #[serde(default)]
    mqtt: Vec<MqttTriggerDecl>,
    #[serde(default)]
    sqs: Vec<SqsTriggerDecl>,
}

const TRIGGER_TYPES: [&str; 6] = ["http", "redis", "mqtt", "sqs", "cron", "command"];

/// The plugin's fields, each checked by name (its config denies unknown fields too).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqsTriggerDecl {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    component: Option<ComponentRef>,
    queue_url: String,
    #[serde(default = "SqsQueue::default_max_messages")]
    max_messages: u16,
    #[serde(default = "SqsQueue::default_idle_wait_seconds")]
    idle_wait_seconds: u64,
    #[serde(default)]
    system_attributes: Vec<String>,
    #[serde(default)]
    message_attributes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MqttTriggerDecl {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    component: Option<ComponentRef>,
    topic: String,
    /// The plugin writes it as text (`qos = "1"`); a number is taken too.
    #[serde(default)]
    qos: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CronTriggerDecl {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    component: Option<ComponentRef>,
    cron_expression: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandTriggerDecl {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    component: Option<ComponentRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisTriggerDecl {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    component: Option<ComponentRef>,
    channel: String,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisAppDecl {
    #[serde(default)]
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpTriggerDecl {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    component: Option<ComponentRef>,
    #[serde(default)]
    components: Option<toml::Value>,
    route: RouteDecl,
    #[serde(default)]
    executor: Option<ExecutorDecl>,
    #[serde(default)]
    static_response: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ComponentRef {
    Id(String),
    Inline(Box<ComponentDecl>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RouteDecl {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentDecl {
    source: SourceDecl,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
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
    #[allow(dead_code)]
    targets: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    build: Option<toml::Table>,
    #[serde(default)]
    #[allow(dead_code)]
    tool: Option<toml::Table>,
    #[serde(default)]
    #[allow(dead_code)]
    dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    dependencies: toml::Table,
    #[serde(default)]
    #[allow(dead_code)]
    profile: Option<toml::Table>,
}

impl ComponentDecl {
    fn into_parts(self, id: String) -> Result<ComponentParts> {
        if !self.dependencies.is_empty() {
            return Err(AppError::Unsupported(format!(
                "component '{id}': component dependencies are not supported; compose the component before deploying"
            )));
        }
        Ok(ComponentParts {
            id,
            description: self.description,
            source: self.source,
            files: self.files,
            exclude_files: self.exclude_files,
            allowed_http_hosts: self.allowed_http_hosts,
            allowed_outbound_hosts: self.allowed_outbound_hosts,
            environment: self.environment,
            variables: self.variables,
            key_value_stores: self.key_value_stores,
            sqlite_databases: self.sqlite_databases,
            ai_models: self.ai_models,
        })
    }
}

pub fn parse(text: &str, dir: &Path, table: &toml::Table) -> Result<App> {
    let merr = |message: String| AppError::Manifest {
        path: dir.join(super::MANIFEST_FILE),
        message,
    };
    if let Some(toml::Value::Table(triggers)) = table.get("trigger")
        && let Some(other) = triggers
            .keys()
            .find(|k| !TRIGGER_TYPES.contains(&k.as_str()))
    {
        return Err(AppError::Unsupported(format!(
            "trigger type '{other}': this runtime runs the {} triggers only",
            TRIGGER_TYPES.join(", ")
        )));
    }
    let manifest: Manifest = toml::from_str(text).map_err(|e| merr(e.to_string()))?;
    if let Some(base) = manifest
        .application
        .trigger
        .get("http")
        .and_then(|http| http.get("base"))
        .and_then(|b| b.as_str())
        && base != "/"
    {
        return Err(AppError::Unsupported(format!(
            "application.trigger.http.base = '{base}': only '/' is supported (Spin 2 deprecated base paths)"
        )));
    }

    let variables = common::variables(manifest.variables)?;
    let mut components = Vec::new();
    for (id, decl) in manifest.component {
        common::validate_kebab_id(&id).map_err(|m| AppError::component(&id, m))?;
        components.push(decl.into_parts(id)?.into_component(dir)?);
    }

    let mut http_triggers = Vec::new();
    for (index, t) in manifest.trigger.http.into_iter().enumerate() {
        let trigger_id =
            t.id.clone()
                .unwrap_or_else(|| format!("trigger.http[{index}]"));
        let terr = |m: &str| AppError::trigger(&trigger_id, m);
        if t.components.is_some() {
            return Err(AppError::Unsupported(format!(
                "trigger '{trigger_id}': 'components' (middleware) is not supported"
            )));
        }
        if t.static_response.is_some() {
            return Err(AppError::Unsupported(format!(
                "trigger '{trigger_id}': 'static_response' is not supported"
            )));
        }
        let component = component_of(t.component, t.id.as_deref(), dir, &mut components)
            .ok_or_else(|| terr("has no 'component'"))??;
        let route = match t.route {
            RouteDecl::Path(p) => Route::Path(p),
            RouteDecl::Private { private: true } => Route::Private,
            RouteDecl::Private { private: false } => {
                return Err(terr("route must be a path or { private = true }"));
            }
        };
        http_triggers.push(HttpTrigger {
            id: t.id.unwrap_or_else(|| format!("trigger-{component}")),
            route,
            component,
            executor: common::executor(t.executor).map_err(|e| terr(&e))?,
        });
    }

    let redis_address = match manifest.application.trigger.get("redis") {
        Some(table) => {
            let decl: RedisAppDecl = table
                .clone()
                .try_into()
                .map_err(|e| merr(format!("application.trigger.redis: {e}")))?;
            decl.address
        }
        None => None,
    };
    let mut redis_triggers = Vec::new();
    for (index, t) in manifest.trigger.redis.into_iter().enumerate() {
        let (id, component) =
            id_and_component("redis", index, t.id, t.component, dir, &mut components)?;
        redis_triggers.push(RedisTrigger {
            id,
            component,
            channel: t.channel,
            address: t.address,
        });
    }
    let mut command_triggers = Vec::new();
    for (index, t) in manifest.trigger.command.into_iter().enumerate() {
        let (id, component) =
            id_and_component("command", index, t.id, t.component, dir, &mut components)?;
        command_triggers.push(CommandTrigger { id, component });
    }
    let mut cron_triggers = Vec::new();
    for (index, t) in manifest.trigger.cron.into_iter().enumerate() {
        let (id, component) =
            id_and_component("cron", index, t.id, t.component, dir, &mut components)?;
        cron_triggers.push(CronTrigger {
            id,
            component,
            cron_expression: t.cron_expression,
        });
    }

    let mut mqtt_triggers = Vec::new();
    for (index, t) in manifest.trigger.mqtt.into_iter().enumerate() {
        let (id, component) =
            id_and_component("mqtt", index, t.id, t.component, dir, &mut components)?;
        let qos = match &t.qos {
            None => 0,
            Some(toml::Value::Integer(n)) => u8::try_from(*n).unwrap_or(u8::MAX),
            Some(toml::Value::String(s)) => s.trim().parse().unwrap_or(u8::MAX),
            Some(other) => {
                return Err(AppError::trigger(
                    &id,
                    format!("qos {other} is not a number"),
                ));
            }
        };
        mqtt_triggers.push(MqttTrigger {
            id,
            component,
            topic: t.topic,
            qos,
        });
    }
    let mut sqs_triggers = Vec::new();
    for (index, t) in manifest.trigger.sqs.into_iter().enumerate() {
        let (id, component) =
            id_and_component("sqs", index, t.id, t.component, dir, &mut components)?;
        sqs_triggers.push(SqsTrigger {
            id,
            component,
            queue: SqsQueue {
                queue_url: t.queue_url,
                max_messages: t.max_messages,
                idle_wait_seconds: t.idle_wait_seconds,
                system_attributes: t.system_attributes,
                message_attributes: t.message_attributes,
            },
        });
    }
    let mqtt_broker = match manifest.application.trigger.get("mqtt") {
        Some(table) => Some(
            table
                .clone()
                .try_into()
                .map_err(|e| merr(format!("application.trigger.mqtt: {e}")))?,
        ),
        None => None,
    };

    Ok(App {
        name: manifest.application.name,
        version: manifest.application.version.filter(|v| !v.is_empty()),
        description: manifest.application.description.filter(|d| !d.is_empty()),
        authors: manifest.application.authors,
        variables,
        components,
        http_triggers,
        redis_triggers,
        command_triggers,
        cron_triggers,
        mqtt_triggers,
        sqs_triggers,
        mqtt_broker,
        redis_address,
    })
}

/// A non-HTTP trigger's id (its own, else `trigger-{component}-{kind}-{index}`) and its
/// component's.
fn id_and_component(
    kind: &str,
    index: usize,
    id: Option<String>,
    reference: Option<ComponentRef>,
    dir: &Path,
    components: &mut Vec<crate::Component>,
) -> Result<(String, String)> {
    let component =
        component_of(reference, id.as_deref(), dir, components).ok_or_else(|| {
            let shown = id
                .clone()
                .unwrap_or_else(|| format!("trigger.{kind}[{index}]"));
            AppError::trigger(&shown, "has no 'component'")
        })??;
    let id = id.unwrap_or_else(|| format!("trigger-{component}-{kind}-{index}"));
    Ok((id, component))
}

/// A trigger's component: an id, or a component declared inline (added to `components`);
/// `None` when the trigger names none.
fn component_of(
    reference: Option<ComponentRef>,
    trigger_id: Option<&str>,
    dir: &Path,
    components: &mut Vec<crate::Component>,
) -> Option<Result<String>> {
    Some(match reference? {
        ComponentRef::Id(id) => Ok(id),
        ComponentRef::Inline(decl) => {
            // As Spin names them: `<trigger id>-component`, or else (no trigger id, or that
            // name taken) the first free `inline-component<N>`.
            let taken = |id: &str| components.iter().any(|c| c.id == id);
            let natural = trigger_id.map(|t| {
                format!("{t}-component")
                    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
            });
            let id = match natural {
                Some(id) if !taken(&id) => id,
                _ => (1..)
                    .map(|n| format!("inline-component{n}"))
                    .find(|id| !taken(id))
                    .expect("some counter is free"),
            };
            decl.into_parts(id.clone())
                .and_then(|parts| parts.into_component(dir))
                .map(|component| {
                    components.push(component);
                    id
                })
        }
    })
}
