//! The MQTT trigger (the spin-trigger-mqtt plugin's `[[trigger.mqtt]]`): one connection to the
//! app's broker, subscribed to every trigger's topic at its QoS each time the broker accepts
//! the connection (rumqttc connects again by itself after a failure; this waits with back-off
//! between attempts). Each message goes to the components whose topic filter matches its topic
//! (`+` one level, `#` the rest), in a fresh instance, one message at a time in the broker's
//! order, with its topic as metadata.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use spinrt_engine::exports::mqtt::SpinMqttPre;
use spinrt_engine::exports::mqtt::spin::mqtt_trigger::spin_mqtt_types::Metadata;
use spinrt_engine::{InstanceState, LoadedApp};

const MAX_BACKOFF: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
#[error("mqtt trigger '{trigger}': {message}")]
pub struct MqttTriggerError {
    trigger: String,
    message: String,
}

struct Subscriber {
    trigger: String,
    component: String,
    topic: String,
    qos: QoS,
    pre: SpinMqttPre<InstanceState>,
}

pub struct MqttTrigger {
    app: Arc<LoadedApp>,
    options: MqttOptions,
    address: String,
    subscribers: Vec<Subscriber>,
}

impl MqttTrigger {
    /// `None` when the app has no MQTT trigger; a broker address or topic that does not
    /// render, or a component without `handle-message`, fails here.
    pub fn new(app: &Arc<LoadedApp>) -> Result<Option<Self>, MqttTriggerError> {
        let spec = app.app();
        let (Some(first), Some(broker)) = (spec.mqtt_triggers.first(), &spec.mqtt_broker) else {
            return Ok(None);
        };
        let error = |trigger: &str, message: String| MqttTriggerError {
            trigger: trigger.to_string(),
            message,
        };
        let render = |trigger: &str, template: &str| {
            app.render(template)
                .map_err(|e| error(trigger, e.to_string()))
        };
        let address = render(&first.id, &broker.address)?;
        // The client id rumqttc wants in the URL; one per process.
        let separator = if address.contains('?') { '&' } else { '?' };
        let url = format!(
            "{address}{separator}client_id=spinrt-{}-{}",
            spec.name,
            std::process::id()
        );
        let mut options = MqttOptions::parse_url(&url).map_err(|e| {
            error(
                &first.id,
                format!("invalid broker address '{address}': {e}"),
            )
        })?;
        let username = render(&first.id, &broker.username)?;
        if !username.is_empty() {
            options.set_credentials(username, render(&first.id, &broker.password)?);
        }
        let keep_alive: u64 = broker.keep_alive_interval.trim().parse().map_err(|_| {
            error(
                &first.id,
                format!(
                    "keep_alive_interval '{}' is not a number of seconds",
                    broker.keep_alive_interval
                ),
            )
        })?;
        options.set_keep_alive(Duration::from_secs(keep_alive.max(5)));
        let subscribers = spec
            .mqtt_triggers
            .iter()
            .map(|t| {
                let component = app.component(&t.component).ok_or_else(|| {
                    error(&t.id, format!("component '{}' was not loaded", t.component))
                })?;
                let pre = SpinMqttPre::new(component.instance_pre().clone()).map_err(|e| {
                    error(
                        &t.id,
                        format!(
                            "component '{}' exports no MQTT handle-message ({e:#})",
                            t.component
                        ),
                    )
                })?;
                let qos = match t.qos {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                };
                Ok(Subscriber {
                    trigger: t.id.clone(),
                    component: t.component.clone(),
                    topic: render(&t.id, &t.topic)?,
                    qos,
                    pre,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Self {
            app: app.clone(),
            options,
            address,
            subscribers,
        }))
    }

    /// Runs until `shutdown`; a message being handled then is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let (client, mut events) = AsyncClient::new(self.options.clone(), 64);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let event = tokio::select! {
                e = events.poll() => e,
                () = &mut shutdown => break,
            };
            match event {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    backoff = FIRST_BACKOFF;
                    self.subscribe(&client).await;
                }
                Ok(Event::Incoming(Incoming::Publish(message))) => {
                    self.deliver(&message.topic, message.payload.to_vec()).await;
                }
                Ok(_) => {}
                Err(e) => {
                    log::warn!(
                        "mqtt trigger: connection to {} failed: {e}; trying again in {} ms",
                        self.address,
                        backoff.as_millis()
                    );
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => break,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let _ = client.try_disconnect();
    }

    async fn subscribe(&self, client: &AsyncClient) {
        for s in &self.subscribers {
            match client.subscribe(s.topic.clone(), s.qos).await {
                Ok(()) => log::info!(
                    "mqtt trigger '{}': subscribed to '{}' on {}",
                    s.trigger,
                    s.topic,
                    self.address
                ),
                Err(e) => log::error!(
                    "mqtt trigger '{}': cannot subscribe to '{}': {e}",
                    s.trigger,
                    s.topic
                ),
            }
        }
    }

    /// Hands a message to every component subscribed to its topic. The event loop is not
    /// polled meanwhile (acknowledgements wait), as messages are handled one at a time.
    async fn deliver(&self, topic: &str, payload: Vec<u8>) {
        for s in self.subscribers.iter().filter(|s| matches(&s.topic, topic)) {
            match self.call(s, topic, payload.clone()).await {
                Ok(()) => log::debug!(
                    "mqtt trigger '{}': component '{}' handled a message on '{topic}'",
                    s.trigger,
                    s.component
                ),
                Err(e) => log::error!(
                    "mqtt trigger '{}': component '{}' failed on a message on '{topic}': {e}",
                    s.trigger,
                    s.component
                ),
            }
        }
    }

    async fn call(&self, s: &Subscriber, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        let component = self
            .app
            .component(&s.component)
            .ok_or_else(|| "not loaded".to_string())?;
        let mut store = component.new_store().map_err(|e| e.to_string())?;
        let guest = s
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let metadata = Metadata {
            topic: topic.to_string(),
        };
        store
            .run_concurrent(async move |accessor| {
                guest.call_handle_message(accessor, payload, metadata).await
            })
            .await
            .and_then(|r| r)
            .map_err(|e| format!("{e:#}"))?
            .map_err(|e| format!("returned an error: {e:?}"))
    }
}

/// Whether the topic filter `filter` (MQTT's `+` and `#` wildcards) matches `topic`.
fn matches(filter: &str, topic: &str) -> bool {
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        match (part, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (part, Some(level)) if part == level => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

#[cfg(test)]
mod tests {
    #[test]
    fn topic_filters_match_as_mqtt_defines_them() {
        use super::matches;
        assert!(matches("jobs", "jobs"));
        assert!(!matches("jobs", "jobs/a"));
        assert!(matches("jobs/+", "jobs/a"));
        assert!(!matches("jobs/+", "jobs/a/b"));
        assert!(matches("jobs/#", "jobs/a/b"));
        assert!(matches("jobs/#", "jobs"));
        assert!(matches("+/x", "a/x"));
        assert!(!matches("a/b", "a"));
    }
}
