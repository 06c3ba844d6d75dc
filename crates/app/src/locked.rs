//! Spin's *locked app*: the JSON form of an app that `spin registry push` stores in OCI artifacts
//! (and `spin up` writes as `spin.lock`). We read it into an [`App`] and write it from one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::routes::Route;
use crate::{
    App, AppError, CommandTrigger, Component, ComponentSource, CronTrigger, FileMount,
    HttpExecutor, HttpTrigger, MqttTrigger, RedisTrigger, Result, SqsQueue, SqsTrigger, Variable,
};

/// A locked trigger's `trigger_config` as its type's config.
fn config_of<T: serde::de::DeserializeOwned>(id: &str, config: Value) -> Result<T> {
    serde_json::from_value(config)
        .map_err(|e| AppError::trigger(id, format!("trigger_config: {e}")))
}

/// `metadata.triggers.redis.address` (Spin 2 and later), else Spin 1's
/// `metadata.trigger.address` of a Redis app.
fn redis_address(metadata: &Map<String, Value>) -> Option<String> {
    let address = |v: Option<&Value>| v?.get("address")?.as_str().map(str::to_string);
    address(metadata.get("triggers").and_then(|t| t.get("redis"))).or_else(|| {
        let trigger = metadata.get("trigger")?;
        (trigger.get("type")?.as_str()? == "redis")
            .then(|| address(Some(trigger)))
            .flatten()
    })
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockedApp {
    pub spin_lock_version: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_understand: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub host_requirements: Map<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, LockedVariable>,
    pub triggers: Vec<LockedTrigger>,
    pub components: Vec<LockedComponent>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockedVariable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockedTrigger {
    pub id: String,
    pub trigger_type: String,
    pub trigger_config: Value,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockedComponent {
    pub id: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    pub source: LockedSource,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ContentPath>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub dependencies: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub host_requirements: Map<String, Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockedSource {
    pub content_type: String,
    #[serde(flatten)]
    pub content: ContentRef,
}

/// Where content is: a `file://` URL, inline bytes (base64), and/or a digest.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ContentRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContentPath {
    #[serde(flatten)]
    pub content: ContentRef,
    pub path: PathBuf,
}

/// The HTTP trigger's config inside a locked trigger.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpTriggerConfig {
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    route: Option<Value>,
    #[serde(default)]
    executor: Option<Value>,
    #[serde(default)]
    components: Option<Value>,
    #[serde(default)]
    static_response: Option<Value>,
}

/// The MQTT trigger's config inside a locked trigger (the plugin's: QoS as text).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct MqttTriggerConfig {
    component: String,
    topic: String,
    qos: String,
}

/// The SQS trigger's config inside a locked trigger (the plugin's).
#[derive(Deserialize, Serialize)]
struct SqsTriggerConfig {
    component: String,
    #[serde(flatten)]
    queue: SqsQueue,
}

/// The cron trigger's config inside a locked trigger (the plugin's).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CronTriggerConfig {
    component: String,
    cron_expression: String,
}

/// The command trigger's config inside a locked trigger.
#[derive(Debug, Deserialize, Serialize)]
struct CommandTriggerConfig {
    component: String,
}

/// The Redis trigger's config inside a locked trigger.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RedisTriggerConfig {
    component: String,
    channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
}

impl LockedApp {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| AppError::LockedApp(e.to_string()))
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a locked app always serializes")
    }

    /// Converts to the app model. Component and file sources must be `file://` URLs or inline
    /// by now (the OCI reader rewrites digests to the files it unpacked).
    pub fn into_app(self) -> Result<App> {
        if self.spin_lock_version > 1 {
            return Err(AppError::Unsupported(format!(
                "spin_lock_version {}: this runtime reads versions 0 and 1",
                self.spin_lock_version
            )));
        }
        if !self.must_understand.is_empty() {
            return Err(AppError::Unsupported(format!(
                "the locked app requires features this runtime does not have: {}",
                self.must_understand.join(", ")
            )));
        }
        if let Some(req) = self.host_requirements.keys().next() {
            return Err(AppError::Unsupported(format!("host requirement '{req}'")));
        }
        let meta_str = |k: &str| {
            self.metadata
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name = meta_str("name")
            .ok_or_else(|| AppError::LockedApp("metadata.name is missing".into()))?;
        let variables = self
            .variables
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    Variable {
                        description: v.description,
                        default: v.default,
                        secret: v.secret,
                    },
                )
            })
            .collect();

        let mut http_triggers = Vec::new();
        let mut redis_triggers = Vec::new();
        let mut command_triggers = Vec::new();
        let mut cron_triggers = Vec::new();
        let mut mqtt_triggers = Vec::new();
        let mut sqs_triggers = Vec::new();
        for t in self.triggers {
            match t.trigger_type.as_str() {
                "http" => {}
                "redis" => {
                    let cfg: RedisTriggerConfig = config_of(&t.id, t.trigger_config)?;
                    redis_triggers.push(RedisTrigger {
                        id: t.id,
                        component: cfg.component,
                        channel: cfg.channel,
                        address: cfg.address,
                    });
                    continue;
                }
                "mqtt" => {
                    let cfg: MqttTriggerConfig = config_of(&t.id, t.trigger_config)?;
                    let qos = cfg.qos.trim().parse().unwrap_or(u8::MAX);
                    mqtt_triggers.push(MqttTrigger {
                        id: t.id,
                        component: cfg.component,
                        topic: cfg.topic,
                        qos,
                    });
                    continue;
                }
                "sqs" => {
                    let cfg: SqsTriggerConfig = config_of(&t.id, t.trigger_config)?;
                    sqs_triggers.push(SqsTrigger {
                        id: t.id,
                        component: cfg.component,
                        queue: cfg.queue,
                    });
                    continue;
                }
                "cron" => {
                    let cfg: CronTriggerConfig = config_of(&t.id, t.trigger_config)?;
                    cron_triggers.push(CronTrigger {
                        id: t.id,
                        component: cfg.component,
                        cron_expression: cfg.cron_expression,
                    });
                    continue;
                }
                "command" => {
                    let cfg: CommandTriggerConfig = config_of(&t.id, t.trigger_config)?;
                    command_triggers.push(CommandTrigger {
                        id: t.id,
                        component: cfg.component,
                    });
                    continue;
                }
                other => {
                    return Err(AppError::Unsupported(format!(
                        "trigger type '{other}' (trigger '{}'): this runtime runs the http, \
                         redis, mqtt, sqs, cron and command triggers only",
                        t.id
                    )));
                }
            }
            let cfg: HttpTriggerConfig = config_of(&t.id, t.trigger_config)?;
            if cfg.components.is_some() || cfg.static_response.is_some() {
                return Err(AppError::Unsupported(format!(
                    "trigger '{}': middleware components and static responses",
                    t.id
                )));
            }
            let component = cfg
                .component
                .ok_or_else(|| AppError::trigger(&t.id, "trigger_config has no component"))?;
            let route = match cfg.route {
                Some(Value::String(r)) => Route::Path(r),
                Some(Value::Object(o)) if o.get("private") == Some(&Value::Bool(true)) => {
                    Route::Private
                }
                other => {
                    return Err(AppError::trigger(
                        &t.id,
                        format!(
                            "trigger_config.route must be a path or {{\"private\": true}}, not {other:?}"
                        ),
                    ));
                }
            };
            let executor =
                locked_executor(cfg.executor.as_ref()).map_err(|e| AppError::trigger(&t.id, e))?;
            http_triggers.push(HttpTrigger {
                id: t.id,
                route,
                component,
                executor,
            });
        }

        let components = self
            .components
            .into_iter()
            .map(LockedComponent::into_component)
            .collect::<Result<Vec<_>>>()?;
        let app = App {
            name,
            version: meta_str("version").filter(|v| !v.is_empty()),
            description: meta_str("description").filter(|v| !v.is_empty()),
            authors: self
                .metadata
                .get("authors")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            variables,
            components,
            http_triggers,
            redis_triggers,
            command_triggers,
            cron_triggers,
            mqtt_triggers,
            sqs_triggers,
            mqtt_broker: self
                .metadata
                .get("triggers")
                .and_then(|t| t.get("mqtt"))
                .map(|b| serde_json::from_value(b.clone()))
                .transpose()
                .map_err(|e| AppError::LockedApp(format!("metadata.triggers.mqtt: {e}")))?,
            redis_address: redis_address(&self.metadata),
        };
        crate::model::validate(&app)?;
        Ok(app)
    }

    /// Writes an app as a locked app. Sources become `file://` URLs (or inline bytes) with digests
    /// where `digest_of` can give one; the OCI writer then replaces sources by digests.
    pub fn from_app(app: &App, digest_of: impl Fn(&ComponentSource) -> Option<String>) -> Self {
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(app.name));
        if let Some(v) = &app.version {
            metadata.insert("version".into(), json!(v));
        }
        if let Some(d) = &app.description {
            metadata.insert("description".into(), json!(d));
        }
        if !app.authors.is_empty() {
            metadata.insert("authors".into(), json!(app.authors));
        }
        // Spin 1's single trigger type, which Spin still writes.
        let kind = if !app.command_triggers.is_empty() {
            "command"
        } else if app.http_triggers.is_empty() && !app.redis_triggers.is_empty() {
            "redis"
        } else {
            "http"
        };
        metadata.insert("trigger".into(), json!({"type": kind}));
        let mut triggers = Map::new();
        if let Some(address) = &app.redis_address {
            triggers.insert("redis".into(), json!({"address": address}));
        }
        if let Some(broker) = &app.mqtt_broker {
            triggers.insert(
                "mqtt".into(),
                serde_json::to_value(broker).expect("serializes"),
            );
        }
        metadata.insert("triggers".into(), Value::Object(triggers));
        let variables = app
            .variables
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    LockedVariable {
                        description: v.description.clone(),
                        default: v.default.clone(),
                        secret: v.secret,
                    },
                )
            })
            .collect();
        let triggers = app
            .http_triggers
            .iter()
            .map(|t| {
                let route = match &t.route {
                    Route::Path(p) => json!(p),
                    Route::Private => json!({"private": true}),
                };
                let mut cfg = json!({"component": t.component, "route": route});
                if let HttpExecutor::Wagi(wagi) = &t.executor {
                    cfg["executor"] = json!({"type": "wagi", "argv": wagi.argv});
                }
                LockedTrigger {
                    id: t.id.clone(),
                    trigger_type: "http".into(),
                    trigger_config: cfg,
                }
            })
            .chain(app.redis_triggers.iter().map(|t| {
                let cfg = RedisTriggerConfig {
                    component: t.component.clone(),
                    channel: t.channel.clone(),
                    address: t.address.clone(),
                };
                LockedTrigger {
                    id: t.id.clone(),
                    trigger_type: "redis".into(),
                    trigger_config: serde_json::to_value(cfg).expect("serializes"),
                }
            }))
            .chain(app.mqtt_triggers.iter().map(|t| {
                let cfg = MqttTriggerConfig {
                    component: t.component.clone(),
                    topic: t.topic.clone(),
                    qos: t.qos.to_string(),
                };
                LockedTrigger {
                    id: t.id.clone(),
                    trigger_type: "mqtt".into(),
                    trigger_config: serde_json::to_value(cfg).expect("serializes"),
                }
            }))
            .chain(app.sqs_triggers.iter().map(|t| {
                let cfg = SqsTriggerConfig {
                    component: t.component.clone(),
                    queue: t.queue.clone(),
                };
                LockedTrigger {
                    id: t.id.clone(),
                    trigger_type: "sqs".into(),
                    trigger_config: serde_json::to_value(cfg).expect("serializes"),
                }
            }))
            .chain(app.cron_triggers.iter().map(|t| {
                let cfg = CronTriggerConfig {
                    component: t.component.clone(),
                    cron_expression: t.cron_expression.clone(),
                };
                LockedTrigger {
                    id: t.id.clone(),
                    trigger_type: "cron".into(),
                    trigger_config: serde_json::to_value(cfg).expect("serializes"),
                }
            }))
            .chain(app.command_triggers.iter().map(|t| {
                let cfg = CommandTriggerConfig {
                    component: t.component.clone(),
                };
                LockedTrigger {
                    id: t.id.clone(),
                    trigger_type: "command".into(),
                    trigger_config: serde_json::to_value(cfg).expect("serializes"),
                }
            }))
            .collect();
        let components = app
            .components
            .iter()
            .map(|c| LockedComponent::from_component(c, digest_of(&c.source)))
            .collect();
        Self {
            spin_lock_version: 1,
            must_understand: vec![],
            metadata,
            host_requirements: Map::new(),
            variables,
            triggers,
            components,
        }
    }
}

const STRING_LIST_METADATA: [&str; 3] = ["allowed_outbound_hosts", "key_value_stores", "databases"];

impl LockedComponent {
    fn into_component(self) -> Result<Component> {
        let id = self.id;
        let cerr = |m: String| AppError::component(&id, m);
        if !self.dependencies.is_empty() {
            return Err(AppError::Unsupported(format!(
                "component '{id}': component dependencies"
            )));
        }
        if let Some(req) = self.host_requirements.keys().next() {
            return Err(AppError::Unsupported(format!(
                "component '{id}': host requirement '{req}'"
            )));
        }
        let list = |key: &str| -> Result<Vec<String>> {
            match self.metadata.get(key) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| cerr(format!("metadata.{key} must be a list of strings: {e}"))),
            }
        };
        let [allowed_outbound_hosts, key_value_stores, sqlite_databases] =
            STRING_LIST_METADATA.map(list);
        if list("ai_models")?.iter().any(|_| true) {
            return Err(AppError::Unsupported(format!(
                "component '{id}': ai_models"
            )));
        }
        let source =
            content_source(&self.source.content).map_err(|m| cerr(format!("source: {m}")))?;
        let files = self
            .files
            .iter()
            .map(|f| {
                let ComponentSource::File(source) = content_source(&f.content)? else {
                    return Err("file mounts must be file:// URLs".to_string());
                };
                if !f.path.is_absolute() {
                    return Err(format!(
                        "file mount path '{}' must be absolute",
                        f.path.display()
                    ));
                }
                crate::files::relative_inside(f.path.to_string_lossy().trim_start_matches('/'))
                    .or_else(|e| {
                        if f.path == std::path::Path::new("/") {
                            Ok(PathBuf::new())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(|e| format!("file mount path '{}': {e}", f.path.display()))?;
                Ok(FileMount {
                    source,
                    destination: f.path.clone(),
                })
            })
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|m| cerr(format!("files: {m}")))?;
        Ok(Component {
            description: self
                .metadata
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            source,
            files,
            allowed_outbound_hosts: allowed_outbound_hosts?,
            environment: self.env,
            variables: self.config,
            key_value_stores: key_value_stores?,
            sqlite_databases: sqlite_databases?,
            id,
        })
    }

    fn from_component(c: &Component, digest: Option<String>) -> Self {
        let mut metadata = Map::new();
        if let Some(d) = &c.description {
            metadata.insert("description".into(), json!(d));
        }
        let lists = [
            &c.allowed_outbound_hosts,
            &c.key_value_stores,
            &c.sqlite_databases,
        ];
        for (key, list) in STRING_LIST_METADATA.iter().zip(lists) {
            metadata.insert((*key).into(), json!(list));
        }
        let content = match &c.source {
            ComponentSource::File(p) | ComponentSource::Precompiled(p) => ContentRef {
                source: Some(file_url(p)),
                inline: None,
                digest,
            },
            ComponentSource::Inline(bytes) => ContentRef {
                source: None,
                inline: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                digest,
            },
        };
        Self {
            id: c.id.clone(),
            metadata,
            source: LockedSource {
                content_type: "application/wasm".into(),
                content,
            },
            env: c.environment.clone(),
            files: c
                .files
                .iter()
                .map(|f| ContentPath {
                    content: ContentRef {
                        source: Some(file_url(&f.source)),
                        ..Default::default()
                    },
                    path: f.destination.clone(),
                })
                .collect(),
            config: c.variables.clone(),
            dependencies: Map::new(),
            host_requirements: Map::new(),
        }
    }
}

fn content_source(content: &ContentRef) -> std::result::Result<ComponentSource, String> {
    if let Some(inline) = &content.inline {
        return base64::engine::general_purpose::STANDARD
            .decode(inline)
            .map(ComponentSource::Inline)
            .map_err(|e| format!("inline content is not base64: {e}"));
    }
    match &content.source {
        Some(url) => match url.strip_prefix("file://") {
            Some(path) if path.starts_with('/') => {
                Ok(ComponentSource::File(PathBuf::from(percent_decode(path))))
            }
            _ => Err(format!(
                "'{url}' is not a file:// URL with an absolute path"
            )),
        },
        None => Err(match &content.digest {
            Some(d) => format!("content {d} was not resolved to a file"),
            None => "no source, inline content or digest".into(),
        }),
    }
}

/// A `file://` URL for an absolute path, as locked apps write sources.
pub fn file_url(path: &std::path::Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'%' | b' ' | b'#' | b'?' => out.push_str(&format!("%{b:02X}")),
            _ => out.push(b as char),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A locked trigger's `executor` (`{"type": ..., ...}`), read as the manifest's is.
fn locked_executor(executor: Option<&Value>) -> std::result::Result<HttpExecutor, String> {
    let decl = executor
        .map(|e| serde_json::from_value(e.clone()))
        .transpose()
        .map_err(|e| format!("executor: {e}"))?;
    crate::manifest::common::executor(decl)
}
