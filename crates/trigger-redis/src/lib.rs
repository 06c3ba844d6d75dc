//! Spin's Redis trigger: for each Redis server an app's `[[trigger.redis]]` name, one
//! subscription to their channels; each message is handed to every component subscribed to its
//! channel, in a fresh instance, one message at a time per server (the order Redis delivers
//! them in), as Spin does. A connection that fails or drops is made again, with back-off,
//! until shutdown.

mod executor;
mod subscription;

use std::collections::BTreeMap;
use std::sync::Arc;

use spinrt_engine::LoadedApp;

pub use executor::Executor;
use subscription::{Subscriber, Subscription};

#[derive(Debug, thiserror::Error)]
pub enum RedisTriggerError {
    #[error("redis trigger '{trigger}': {message}")]
    Trigger { trigger: String, message: String },
}

fn trigger_error(trigger: &str, message: impl Into<String>) -> RedisTriggerError {
    RedisTriggerError::Trigger {
        trigger: trigger.to_string(),
        message: message.into(),
    }
}

/// The app's Redis triggers, grouped by server.
pub struct RedisTrigger {
    subscriptions: Vec<Subscription>,
}

impl RedisTrigger {
    /// `None` when the app has no Redis trigger. Addresses and channels are rendered with the
    /// app's variables; a component without an inbound-redis export fails here, as in Spin.
    pub fn new(app: &Arc<LoadedApp>) -> Result<Option<Self>, RedisTriggerError> {
        let spec = app.app();
        if spec.redis_triggers.is_empty() {
            return Ok(None);
        }
        let mut by_address: BTreeMap<String, Vec<Subscriber>> = BTreeMap::new();
        for t in &spec.redis_triggers {
            let render = |template: &str| {
                app.render(template)
                    .map_err(|e| trigger_error(&t.id, e.to_string()))
            };
            let address = t
                .address
                .as_ref()
                .or(spec.redis_address.as_ref())
                .ok_or_else(|| trigger_error(&t.id, "has no Redis address"))?;
            let address = render(address)?;
            let channel = render(&t.channel)?;
            let component = app.component(&t.component).ok_or_else(|| {
                trigger_error(&t.id, format!("component '{}' was not loaded", t.component))
            })?;
            let executor =
                Executor::for_component(component).map_err(|m| trigger_error(&t.id, m))?;
            by_address.entry(address).or_default().push(Subscriber {
                trigger: t.id.clone(),
                channel,
                component: t.component.clone(),
                executor: Arc::new(executor),
            });
        }
        let subscriptions = by_address
            .into_iter()
            .map(|(address, subscribers)| Subscription::new(address, subscribers, app.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Some(Self { subscriptions }))
    }

    /// Runs every subscription until `shutdown` resolves; a message being handled then is
    /// finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Clone + Send + 'static) {
        let tasks: Vec<_> = self
            .subscriptions
            .into_iter()
            .map(|s| tokio::spawn(s.run(shutdown.clone())))
            .collect();
        for task in tasks {
            if let Err(e) = task.await {
                log::error!("redis trigger: a subscription ended abnormally: {e}");
            }
        }
    }
}
