//! The SQS trigger (the spin-trigger-sqs plugin's `[[trigger.sqs]]`): each trigger polls its
//! queue and hands every message to its component in a fresh instance, several at a time (up
//! to the trigger's `max_messages`). While a component works on a message, the message's
//! visibility timeout is extended so no other consumer takes it; when the component answers
//! `delete` the message is deleted, when it answers `leave` (or fails) the message becomes
//! visible again once its timeout passes, as with the plugin.
//!
//! Credentials, region and endpoint come from the AWS SDK's own configuration chain: the
//! `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL(_SQS)`, ...), then profiles, web
//! identity and instance metadata.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message as SqsMessage, MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use spinrt_app::SqsQueue;
use spinrt_engine::exports::sqs::SpinSqsPre;
use spinrt_engine::exports::sqs::fermyon::spin_sqs::sqs_types::{
    Message, MessageAction, MessageAttribute, MessageAttributeValue,
};
use spinrt_engine::{InstanceState, LoadedApp};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// SQS's default visibility timeout, used when the queue's cannot be read.
const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
#[error("sqs trigger '{trigger}': {message}")]
pub struct SqsTriggerError {
    trigger: String,
    message: String,
}

/// rustls with ring, as the rest of the process uses (the SDK's default is aws-lc), trusting
/// Mozilla's roots as outbound HTTP does: the server runs confined to the image's files, and a
/// Spin app's image holds no CA certificates for the SDK's default (the system's) to find.
fn tls_context() -> TlsContext {
    use base64::Engine as _;
    let mut trust = TrustStore::empty();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(cert.as_ref())
        );
        trust.add_pem_certificate(pem);
    }
    TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("Mozilla's roots are valid certificates")
}

/// One trigger: its queue and the component its messages go to.
struct Consumer {
    trigger: String,
    component: String,
    queue: SqsQueue,
    system_attributes: Vec<MessageSystemAttributeName>,
    pre: SpinSqsPre<InstanceState>,
}

pub struct SqsTrigger {
    app: Arc<LoadedApp>,
    client: Client,
    consumers: Vec<Arc<Consumer>>,
}

impl SqsTrigger {
    /// `None` when the app has no SQS trigger; a queue URL that does not render, a component
    /// without `handle-queue-message`, or no AWS region configured, fails here.
    pub async fn new(app: &Arc<LoadedApp>) -> Result<Option<Self>, SqsTriggerError> {
        let triggers = &app.app().sqs_triggers;
        let Some(first) = triggers.first() else {
            return Ok(None);
        };
        let error = |trigger: &str, message: String| SqsTriggerError {
            trigger: trigger.to_string(),
            message,
        };
        let consumers = triggers
            .iter()
            .map(|t| {
                let component = app.component(&t.component).ok_or_else(|| {
                    error(&t.id, format!("component '{}' was not loaded", t.component))
                })?;
                let pre = SpinSqsPre::new(component.instance_pre().clone()).map_err(|e| {
                    error(
                        &t.id,
                        format!(
                            "component '{}' exports no SQS handle-queue-message ({e:#})",
                            t.component
                        ),
                    )
                })?;
                let queue_url = app
                    .render(&t.queue.queue_url)
                    .map_err(|e| error(&t.id, e.to_string()))?;
                Ok(Arc::new(Consumer {
                    trigger: t.id.clone(),
                    component: t.component.clone(),
                    system_attributes: t
                        .queue
                        .system_attributes
                        .iter()
                        .map(|a| MessageSystemAttributeName::from(a.as_str()))
                        .collect(),
                    queue: SqsQueue {
                        queue_url,
                        ..t.queue.clone()
                    },
                    pre,
                }))
            })
            .collect::<Result<_, _>>()?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls_context())
            .build_https();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .load()
            .await;
        // An empty AWS_REGION reaches the SDK as a region named "", which fails every request.
        if config.region().is_none_or(|r| r.as_ref().is_empty()) {
            return Err(error(
                &first.id,
                "no AWS region is configured: set AWS_REGION (or AWS_DEFAULT_REGION)".into(),
            ));
        }
        Ok(Some(Self {
            app: app.clone(),
            client: Client::new(&config),
            consumers,
        }))
    }

    /// Polls every queue until `shutdown`; messages being handled then are finished (and
    /// deleted if their components say so) first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut pollers = JoinSet::new();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        for consumer in &self.consumers {
            let poller = Poller {
                app: self.app.clone(),
                client: self.client.clone(),
                consumer: consumer.clone(),
            };
            pollers.spawn(poller.run(stopped.clone()));
        }
        shutdown.await;
        let _ = stop.send(true);
        while pollers.join_next().await.is_some() {}
    }
}

/// The receive loop of one trigger.
struct Poller {
    app: Arc<LoadedApp>,
    client: Client,
    consumer: Arc<Consumer>,
}

impl Poller {
    async fn run(self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let c = &self.consumer;
        let url = &c.queue.queue_url;
        let visibility = self.visibility_timeout().await;
        log::info!(
            "sqs trigger '{}': receiving from {url} for component '{}'",
            c.trigger,
            c.component
        );
        let idle = Duration::from_secs(c.queue.idle_wait_seconds);
        // Messages in hand never exceed max_messages: a receive asks only for free slots.
        let slots = Arc::new(Semaphore::new(c.queue.max_messages.into()));
        let mut handling = JoinSet::new();
        while !*stopped.borrow() {
            let Ok(first) = slots.clone().acquire_owned().await else {
                break;
            };
            let free = 1 + slots.available_permits().min(9);
            let received = tokio::select! {
                r = self.receive(free) => r,
                _ = stopped.changed() => break,
            };
            let wait = match received {
                Ok(messages) if messages.is_empty() => Some(idle),
                Ok(messages) => {
                    log::debug!("sqs trigger '{}': {} message(s)", c.trigger, messages.len());
                    let mut permit = Some(first);
                    for message in messages {
                        let permit = match permit.take() {
                            Some(p) => p,
                            None => slots.clone().acquire_owned().await.expect("never closed"),
                        };
                        let handler = Handler {
                            app: self.app.clone(),
                            client: self.client.clone(),
                            consumer: c.clone(),
                            visibility,
                        };
                        handling.spawn(async move {
                            handler.handle(message).await;
                            drop(permit);
                        });
                    }
                    None
                }
                Err(e) => {
                    log::warn!(
                        "sqs trigger '{}': receiving from {url} failed: {e}; trying again in {} s",
                        c.trigger,
                        idle.as_secs()
                    );
                    Some(idle)
                }
            };
            // Reap what finished, so the set does not grow with every message.
            while handling.try_join_next().is_some() {}
            if let Some(wait) = wait {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => break,
                }
            }
        }
        while handling.join_next().await.is_some() {}
    }

    async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, String> {
        let c = &self.consumer;
        let output = self
            .client
            .receive_message()
            .queue_url(&c.queue.queue_url)
            .max_number_of_messages(max as i32)
            .set_message_system_attribute_names(Some(c.system_attributes.clone()))
            .set_message_attribute_names(Some(c.queue.message_attributes.clone()))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(output.messages.unwrap_or_default())
    }

    /// The queue's visibility timeout: how long a received message stays hidden from other
    /// consumers, and so how often a message still being handled must be hidden again.
    async fn visibility_timeout(&self) -> Duration {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(&self.consumer.queue.queue_url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await;
        let seconds = match attributes {
            Ok(a) => a
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout)?.parse().ok()),
            Err(e) => {
                log::warn!(
                    "sqs trigger '{}': cannot read the visibility timeout of {} ({}); taking {} s",
                    self.consumer.trigger,
                    self.consumer.queue.queue_url,
                    aws_sdk_sqs::error::DisplayErrorContext(e),
                    DEFAULT_VISIBILITY_TIMEOUT.as_secs()
                );
                None
            }
        };
        seconds.map_or(DEFAULT_VISIBILITY_TIMEOUT, Duration::from_secs)
    }
}

/// One message: the component's call, the lease held meanwhile, the answer acted on.
struct Handler {
    app: Arc<LoadedApp>,
    client: Client,
    consumer: Arc<Consumer>,
    visibility: Duration,
}

impl Handler {
    async fn handle(self, message: SqsMessage) {
        let c = &self.consumer;
        let id = message
            .message_id
            .clone()
            .unwrap_or_else(|| "(no id)".into());
        let lease = message
            .receipt_handle
            .clone()
            .map(|receipt| tokio::spawn(self.lease().hold(receipt)));
        let outcome = self.call(to_guest(&message)).await;
        if let Some(lease) = lease {
            lease.abort();
        }
        match outcome {
            Ok(MessageAction::Delete) => {
                let Some(receipt) = message.receipt_handle else {
                    return;
                };
                let deleted = self
                    .client
                    .delete_message()
                    .queue_url(&c.queue.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await;
                match deleted {
                    Ok(_) => log::debug!("sqs trigger '{}': message {id} deleted", c.trigger),
                    Err(e) => log::error!(
                        "sqs trigger '{}': deleting message {id} failed: {}",
                        c.trigger,
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    ),
                }
            }
            Ok(MessageAction::Leave) => {
                log::debug!(
                    "sqs trigger '{}': message {id} left on the queue",
                    c.trigger
                )
            }
            Err(e) => log::error!(
                "sqs trigger '{}': component '{}' failed on message {id}: {e}",
                c.trigger,
                c.component
            ),
        }
    }

    fn lease(&self) -> Lease {
        Lease {
            client: self.client.clone(),
            queue_url: self.consumer.queue.queue_url.clone(),
            visibility: self.visibility,
        }
    }

    async fn call(&self, message: Message) -> Result<MessageAction, String> {
        let c = &self.consumer;
        let component = self
            .app
            .component(&c.component)
            .ok_or_else(|| "not loaded".to_string())?;
        let mut store = component.new_store().map_err(|e| e.to_string())?;
        let guest = c
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| format!("{e:#}"))?;
        guest
            .call_handle_queue_message(&mut store, &message)
            .await
            .map_err(|e| format!("{e:?}"))?
            .map_err(|e| format!("returned an error: {e:?}"))
    }
}

/// Keeps a message hidden from other consumers while its component works on it.
struct Lease {
    client: Client,
    queue_url: String,
    visibility: Duration,
}

impl Lease {
    async fn hold(self, receipt: String) {
        let every = (self.visibility / 2).max(Duration::from_secs(1));
        let seconds = i32::try_from(self.visibility.as_secs()).unwrap_or(i32::MAX);
        loop {
            tokio::time::sleep(every).await;
            let extended = self
                .client
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(&receipt)
                .visibility_timeout(seconds)
                .send()
                .await;
            if let Err(e) = extended {
                log::warn!(
                    "sqs: extending the visibility of a message on {} failed: {}",
                    self.queue_url,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                );
            }
        }
    }
}

/// The message as the plugin's WIT gives it: system attributes as strings, then the message
/// attributes with their data types (string and binary values; others are skipped).
fn to_guest(message: &SqsMessage) -> Message {
    let mut attributes: Vec<MessageAttribute> = message
        .attributes
        .iter()
        .flatten()
        .map(|(name, value)| MessageAttribute {
            name: name.as_str().to_string(),
            data_type: None,
            value: MessageAttributeValue::Str(value.clone()),
        })
        .collect();
    for (name, value) in message.message_attributes.iter().flatten() {
        let converted = if let Some(s) = &value.string_value {
            MessageAttributeValue::Str(s.clone())
        } else if let Some(b) = &value.binary_value {
            MessageAttributeValue::Binary(b.as_ref().to_vec())
        } else {
            log::warn!("sqs: message attribute '{name}' has no string or binary value; skipped");
            continue;
        };
        attributes.push(MessageAttribute {
            name: name.clone(),
            data_type: Some(value.data_type.clone()),
            value: converted,
        });
    }
    Message {
        id: message.message_id.clone(),
        message_attributes: attributes,
        body: message.body.clone(),
    }
}
