//! One Redis server's subscription: its channels, the components subscribed to each, and the
//! connection, made again whenever it fails or drops.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use spinrt_engine::LoadedApp;

use crate::{Executor, RedisTriggerError, trigger_error};

/// The longest wait between two attempts to reach a server.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// A component subscribed to a channel by one trigger.
pub struct Subscriber {
    pub trigger: String,
    pub channel: String,
    pub component: String,
    pub executor: Arc<Executor>,
}

pub struct Subscription {
    /// For logs: the address without its credentials.
    shown: String,
    client: redis::Client,
    subscribers: Vec<Subscriber>,
    app: Arc<LoadedApp>,
}

impl Subscription {
    pub fn new(
        address: String,
        subscribers: Vec<Subscriber>,
        app: Arc<LoadedApp>,
    ) -> Result<Self, RedisTriggerError> {
        let shown = without_credentials(&address);
        let client = redis::Client::open(address.as_str()).map_err(|e| {
            trigger_error(
                &subscribers[0].trigger,
                format!("invalid Redis address '{shown}': {e}"),
            )
        })?;
        Ok(Self {
            shown,
            client,
            subscribers,
            app,
        })
    }

    fn channels(&self) -> Vec<&str> {
        let mut channels: Vec<&str> = self
            .subscribers
            .iter()
            .map(|s| s.channel.as_str())
            .collect();
        channels.sort_unstable();
        channels.dedup();
        channels
    }

    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let subscribed = tokio::select! {
                s = self.subscribe() => s,
                () = &mut shutdown => return,
            };
            match subscribed {
                Ok(pubsub) => {
                    backoff = FIRST_BACKOFF;
                    log::info!(
                        "redis trigger: subscribed to {} on {}",
                        self.channels().join(", "),
                        self.shown
                    );
                    let mut messages = pubsub.into_on_message();
                    loop {
                        let message = tokio::select! {
                            m = messages.next() => m,
                            () = &mut shutdown => return,
                        };
                        let Some(message) = message else {
                            log::warn!(
                                "redis trigger: the connection to {} closed; subscribing again",
                                self.shown
                            );
                            break;
                        };
                        self.deliver(&message).await;
                    }
                }
                Err(e) => log::warn!(
                    "redis trigger: cannot subscribe on {}: {e}; trying again in {} ms",
                    self.shown,
                    backoff.as_millis()
                ),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = &mut shutdown => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn subscribe(&self) -> redis::RedisResult<redis::aio::PubSub> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        for channel in self.channels() {
            pubsub.subscribe(channel).await?;
        }
        Ok(pubsub)
    }

    /// Hands the message to every component subscribed to its channel, one after the other.
    async fn deliver(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        for s in self.subscribers.iter().filter(|s| s.channel == channel) {
            let Some(component) = self.app.component(&s.component) else {
                continue;
            };
            let payload = message.get_payload_bytes().to_vec();
            match s.executor.handle(component, payload).await {
                Ok(()) => log::debug!(
                    "redis trigger '{}': component '{}' handled a message on '{channel}'",
                    s.trigger,
                    s.component
                ),
                Err(e) => log::error!(
                    "redis trigger '{}': component '{}' failed on a message on '{channel}': {e}",
                    s.trigger,
                    s.component
                ),
            }
        }
    }
}

/// `redis://user:secret@host:6379/0` as `redis://host:6379/0`.
fn without_credentials(address: &str) -> String {
    match (address.find("://"), address.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &address[..scheme + 3], &address[at + 1..])
        }
        _ => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_are_not_shown() {
        assert_eq!(
            super::without_credentials("redis://u:p@w@h:1/0"),
            "redis://h:1/0"
        );
        assert_eq!(super::without_credentials("redis://h:1"), "redis://h:1");
    }
}
