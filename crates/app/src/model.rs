use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::routes::Route;

/// A Spin application, however it was written down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<String>,
    /// Application variables (`[variables]`), by name.
    pub variables: BTreeMap<String, Variable>,
    /// Components in manifest order.
    pub components: Vec<Component>,
    pub http_triggers: Vec<HttpTrigger>,
    pub redis_triggers: Vec<RedisTrigger>,
    pub command_triggers: Vec<CommandTrigger>,
    pub cron_triggers: Vec<CronTrigger>,
    pub mqtt_triggers: Vec<MqttTrigger>,
    pub sqs_triggers: Vec<SqsTrigger>,
    /// `[application.trigger.mqtt]`: the broker of every MQTT trigger.
    pub mqtt_broker: Option<MqttBroker>,
    /// `[application.trigger.redis] address`: the server of every Redis trigger that names none
    /// of its own (a `{{ variable }}` template).
    pub redis_address: Option<String>,
}

/// The task environment variable SpinKube's shim reads for selective deployment: the ids of
/// the components a pod runs, comma-separated.
pub const COMPONENTS_TO_RETAIN_ENV: &str = "SPIN_COMPONENTS_TO_RETAIN";

impl App {
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    /// Every trigger of every kind as `(trigger id, component id)`.
    pub fn triggers(&self) -> impl Iterator<Item = (&str, &str)> {
        fn pair<'a>(id: &'a str, component: &'a str) -> (&'a str, &'a str) {
            (id, component)
        }
        let http = self.http_triggers.iter().map(|t| pair(&t.id, &t.component));
        let redis = self
            .redis_triggers
            .iter()
            .map(|t| pair(&t.id, &t.component));
        let mqtt = self.mqtt_triggers.iter().map(|t| pair(&t.id, &t.component));
        let sqs = self.sqs_triggers.iter().map(|t| pair(&t.id, &t.component));
        let cron = self.cron_triggers.iter().map(|t| pair(&t.id, &t.component));
        let command = self
            .command_triggers
            .iter()
            .map(|t| pair(&t.id, &t.component));
        http.chain(redis)
            .chain(mqtt)
            .chain(sqs)
            .chain(cron)
            .chain(command)
    }

    /// Selective deployment: keeps only the components `ids` names and the triggers of those,
    /// as `spin up --component-id` and SpinKube's `SPIN_COMPONENTS_TO_RETAIN` do. An id the
    /// app does not define is an error naming it. (Spin also refuses to drop a component a
    /// retained one depends on; apps with component dependencies are refused at load here.)
    pub fn retain_components<S: AsRef<str>>(&mut self, ids: &[S]) -> crate::Result<()> {
        if let Some(unknown) = ids.iter().find(|id| self.component(id.as_ref()).is_none()) {
            return Err(crate::AppError::component(
                unknown.as_ref(),
                format!(
                    "cannot be retained: app '{}' has no such component (it has {})",
                    self.name,
                    self.components
                        .iter()
                        .map(|c| format!("'{}'", c.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let retained = |id: &str| ids.iter().any(|r| r.as_ref() == id);
        self.components.retain(|c| retained(&c.id));
        self.http_triggers.retain(|t| retained(&t.component));
        self.redis_triggers.retain(|t| retained(&t.component));
        self.command_triggers.retain(|t| retained(&t.component));
        self.cron_triggers.retain(|t| retained(&t.component));
        self.mqtt_triggers.retain(|t| retained(&t.component));
        self.sqs_triggers.retain(|t| retained(&t.component));
        validate(self)
    }
}

/// `SPIN_COMPONENTS_TO_RETAIN`'s value as ids (commas, blanks around them ignored).
pub fn components_to_retain(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect()
}

/// An application variable: `default` and `required` are mutually exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variable {
    pub description: Option<String>,
    pub default: Option<String>,
    pub secret: bool,
}

impl Variable {
    pub fn required(&self) -> bool {
        self.default.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub id: String,
    pub description: Option<String>,
    pub source: ComponentSource,
    /// Files to make visible to the guest, already resolved to concrete host paths.
    pub files: Vec<FileMount>,
    pub allowed_outbound_hosts: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Component variables (`[component.x.variables]`): templates over app variables.
    pub variables: BTreeMap<String, String>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
}

/// Where a component's Wasm comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentSource {
    /// A file on the local filesystem (absolute path).
    File(PathBuf),
    /// Bytes carried in the app itself (a locked app's `inline` content).
    Inline(Vec<u8>),
    /// Machine code this runtime's engine compiled earlier (kept in containerd's content store).
    /// Loading it runs it as native code, so only the shim creates this, for content it
    /// compiled itself; no manifest or locked app can produce it.
    Precompiled(PathBuf),
}

/// One file or directory placed into the guest's filesystem, read-only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMount {
    /// Absolute host path of a file or directory.
    pub source: PathBuf,
    /// Absolute guest path.
    pub destination: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTrigger {
    pub id: String,
    pub route: Route,
    pub component: String,
    pub executor: HttpExecutor,
}

/// `[[trigger.redis]]`: each message published on `channel` is handed to `component`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTrigger {
    pub id: String,
    pub component: String,
    /// A `{{ variable }}` template.
    pub channel: String,
    /// The trigger's own server (a template), else the app's `redis_address`.
    pub address: Option<String>,
}

/// `[[trigger.mqtt]]` (the spin-trigger-mqtt plugin's): messages on `topic` go to `component`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttTrigger {
    pub id: String,
    pub component: String,
    /// A `{{ variable }}` template.
    pub topic: String,
    /// 0, 1 or 2.
    pub qos: u8,
}

/// `[application.trigger.mqtt]`; every field may be a `{{ variable }}` template.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttBroker {
    pub address: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Seconds, as text (the plugin's form).
    #[serde(default = "default_keep_alive")]
    pub keep_alive_interval: String,
}

fn default_keep_alive() -> String {
    "30".into()
}

/// `[[trigger.sqs]]` (the spin-trigger-sqs plugin's): messages received from an SQS queue go
/// to `component`, one instance each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsTrigger {
    pub id: String,
    pub component: String,
    pub queue: SqsQueue,
}

/// The queue of one SQS trigger and how it is polled, in the plugin's field names.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SqsQueue {
    /// A `{{ variable }}` template (the plugin takes it literally; a literal URL is one too).
    pub queue_url: String,
    /// Messages fetched per receive (1 to 10, SQS's limit); each still gets its own instance.
    #[serde(default = "SqsQueue::default_max_messages")]
    pub max_messages: u16,
    /// How long to wait before polling again after an empty receive or an error.
    #[serde(default = "SqsQueue::default_idle_wait_seconds")]
    pub idle_wait_seconds: u64,
    /// SQS's system attributes to fetch (`All`, `SentTimestamp`, ...).
    #[serde(default)]
    pub system_attributes: Vec<String>,
    /// Message attributes to fetch by name (string and binary values are passed on).
    #[serde(default)]
    pub message_attributes: Vec<String>,
}

impl SqsQueue {
    pub const fn default_max_messages() -> u16 {
        10
    }

    pub const fn default_idle_wait_seconds() -> u64 {
        2
    }
}

/// `[[trigger.cron]]` (the spin-trigger-cron plugin's): `component` runs on the schedule
/// `cron_expression` gives (with seconds: `sec min hour day-of-month month day-of-week [year]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronTrigger {
    pub id: String,
    pub component: String,
    pub cron_expression: String,
}

/// `[[trigger.command]]` (the spin-trigger-command plugin's): `component` is a WASI command,
/// run once; the app ends with its exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandTrigger {
    pub id: String,
    pub component: String,
}

/// How the HTTP trigger calls a component.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HttpExecutor {
    /// `wasi:http/incoming-handler` or `fermyon:spin/inbound-http`, whichever the component exports.
    #[default]
    Http,
    /// A WAGI (CGI-style) command: the request in its environment, arguments and stdin, the
    /// response (CGI headers, a blank line, the body) on its stdout.
    Wagi(WagiConfig),
}

/// `executor = { type = "wagi", argv = "..." }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WagiConfig {
    /// The command's arguments, split at spaces after `${SCRIPT_NAME}` (the route) and
    /// `${ARGS}` (the query's `name=value` pairs, space-separated) are substituted.
    pub argv: String,
}

impl WagiConfig {
    pub const DEFAULT_ARGV: &'static str = "${SCRIPT_NAME} ${ARGS}";
}

impl Default for WagiConfig {
    fn default() -> Self {
        Self {
            argv: Self::DEFAULT_ARGV.into(),
        }
    }
}

/// Checks what no single manifest section can check alone: references between sections.
pub(crate) fn validate(app: &App) -> crate::Result<()> {
    use crate::AppError;
    let mut seen = std::collections::BTreeSet::new();
    for c in &app.components {
        if !seen.insert(c.id.as_str()) {
            return Err(AppError::component(&c.id, "is defined twice"));
        }
        crate::variables::check_references(
            c.variables
                .values()
                .chain(&c.allowed_outbound_hosts)
                .map(String::as_str),
            &app.variables,
        )
        .map_err(|m| AppError::component(&c.id, m))?;
    }
    let serving = app.triggers().count() > app.command_triggers.len();
    if !serving && app.command_triggers.is_empty() {
        return Err(AppError::Unsupported(
            "the app has no trigger ([[trigger.http]], [[trigger.redis]], [[trigger.mqtt]], \
             [[trigger.sqs]], [[trigger.cron]] or [[trigger.command]]): \
             there is nothing to run"
                .into(),
        ));
    }
    if serving && let Some(command) = app.command_triggers.first() {
        return Err(AppError::trigger(
            &command.id,
            "a command trigger runs once and ends the app; it cannot share an app with HTTP, \
             Redis, MQTT, SQS or cron triggers, which run until stopped (deploy them as two apps)",
        ));
    }
    for (trigger, component) in app.triggers() {
        if app.component(component).is_none() {
            return Err(AppError::trigger(
                trigger,
                format!("refers to component '{component}', which the app does not define"),
            ));
        }
    }
    for t in &app.mqtt_triggers {
        let Some(broker) = &app.mqtt_broker else {
            return Err(AppError::trigger(
                &t.id,
                "has no MQTT broker: set [application.trigger.mqtt] address",
            ));
        };
        if t.qos > 2 {
            return Err(AppError::trigger(
                &t.id,
                format!("qos {} is not an MQTT QoS (0, 1 or 2)", t.qos),
            ));
        }
        crate::variables::check_references(
            [
                broker.address.as_str(),
                &broker.username,
                &broker.password,
                &t.topic,
            ],
            &app.variables,
        )
        .map_err(|m| AppError::trigger(&t.id, m))?;
    }
    for t in &app.sqs_triggers {
        if t.queue.queue_url.trim().is_empty() {
            return Err(AppError::trigger(&t.id, "has no queue_url"));
        }
        crate::variables::check_references([t.queue.queue_url.as_str()], &app.variables)
            .map_err(|m| AppError::trigger(&t.id, m))?;
        if !(1..=10).contains(&t.queue.max_messages) {
            return Err(AppError::trigger(
                &t.id,
                format!(
                    "max_messages {} is outside what SQS allows per receive (1 to 10)",
                    t.queue.max_messages
                ),
            ));
        }
    }
    for t in &app.redis_triggers {
        let address = t.address.as_ref().or(app.redis_address.as_ref());
        let Some(address) = address else {
            return Err(AppError::trigger(
                &t.id,
                "has no Redis address: set [application.trigger.redis] address or the trigger's own",
            ));
        };
        crate::variables::check_references([address.as_str(), t.channel.as_str()], &app.variables)
            .map_err(|m| AppError::trigger(&t.id, m))?;
    }
    crate::routes::Router::build(&app.http_triggers)?;
    Ok(())
}
