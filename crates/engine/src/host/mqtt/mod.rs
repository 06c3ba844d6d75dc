//! `fermyon:spin/mqtt` and `spin:mqtt/mqtt@3.0.0` (its async successor, spin-sdk 7, see
//! [`v3`]): publishing to MQTT brokers `allowed_outbound_hosts` permits (`mqtt://host:port`).
//! The address carries the client id (`?client_id=...`), as in Spin.

mod v3;

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::fermyon::spin::mqtt::{self, Error, Qos};
use spinrt_telemetry::traces::{self, TraceContext};

use super::outbound::OutboundPolicy;
use crate::InstanceState;

/// How long a publish may wait for the broker.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// An open connection: the client and the event loop that drives it (shared, so an async
/// call can drive it while the guest's resource table is free for other calls).
pub struct Connection {
    client: AsyncClient,
    events: Arc<tokio::sync::Mutex<EventLoop>>,
}

fn view(s: &mut InstanceState) -> MqttView<'_> {
    let (host, table) = s.host_and_table();
    MqttView {
        policy: &host.outbound,
        trace: host.http.trace.as_ref(),
        table,
    }
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    mqtt::add_to_linker::<_, Mqtt>(linker, view)?;
    v3::add_to_linker(linker)
}

struct Mqtt;

impl HasData for Mqtt {
    type Data<'a> = MqttView<'a>;
}

pub struct MqttView<'a> {
    policy: &'a OutboundPolicy,
    trace: Option<&'a TraceContext>,
    table: &'a mut ResourceTable,
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::ConnectionFailed(e.to_string())
}

/// A client for the broker at `address`, if the component may reach it; it connects on the
/// first publish.
fn connection(
    policy: &OutboundPolicy,
    address: &str,
    username: String,
    password: String,
    keep_alive_interval_in_secs: u64,
) -> Result<Connection, Error> {
    if !policy.allows_url(address) {
        return Err(failed(format!("address {address} is not permitted")));
    }
    let mut options = MqttOptions::parse_url(address).map_err(|_| Error::InvalidAddress)?;
    if !username.is_empty() {
        options.set_credentials(username, password);
    }
    options.set_keep_alive(Duration::from_secs(keep_alive_interval_in_secs.max(5)));
    let (client, events) = AsyncClient::new(options, 16);
    Ok(Connection {
        client,
        events: Arc::new(tokio::sync::Mutex::new(events)),
    })
}

/// Publishes and drives the connection until the broker has the message, as far as the QoS
/// promises; a broker that never answers fails the call instead of holding the request
/// forever.
async fn publish(parts: Parts, topic: String, payload: Vec<u8>, qos: QoS) -> Result<(), Error> {
    let Parts {
        client,
        events,
        trace,
    } = parts;
    let call = publish_untraced(client, events, topic, payload, qos);
    traces::traced(trace.as_ref(), "mqtt", "publish", None, call).await
}

async fn publish_untraced(
    client: AsyncClient,
    events: Arc<tokio::sync::Mutex<EventLoop>>,
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
) -> Result<(), Error> {
    let mut events = events.lock().await;
    client
        .publish(topic, qos, false, payload)
        .await
        .map_err(|e| Error::Other(e.to_string()))?;
    let acknowledged = async {
        loop {
            match events.poll().await.map_err(failed)? {
                Event::Outgoing(Outgoing::Publish(_)) if qos == QoS::AtMostOnce => {
                    return Ok(());
                }
                Event::Incoming(Incoming::PubAck(_)) if qos == QoS::AtLeastOnce => {
                    return Ok(());
                }
                Event::Incoming(Incoming::PubComp(_)) if qos == QoS::ExactlyOnce => {
                    return Ok(());
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(PUBLISH_TIMEOUT, acknowledged)
        .await
        .unwrap_or_else(|_| {
            Err(failed(format!(
                "no answer from the broker within {} s",
                PUBLISH_TIMEOUT.as_secs()
            )))
        })
}

/// A connection's client and event loop, and the trace its publishes are spans of.
struct Parts {
    client: AsyncClient,
    events: Arc<tokio::sync::Mutex<EventLoop>>,
    trace: Option<TraceContext>,
}

impl MqttView<'_> {
    /// The client and event loop of the guest's connection `c`.
    fn parts(&self, c: &Resource<Connection>) -> Result<Parts, Error> {
        let conn = self.table.get(c).map_err(|e| Error::Other(e.to_string()))?;
        Ok(Parts {
            client: conn.client.clone(),
            events: conn.events.clone(),
            trace: self.trace.cloned(),
        })
    }

    fn push(&mut self, connection: Connection) -> Result<Resource<Connection>, Error> {
        self.table
            .push(connection)
            .map_err(|_| Error::TooManyConnections)
    }
}

impl mqtt::Host for MqttView<'_> {}

impl mqtt::HostConnection for MqttView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> Result<Resource<Connection>, Error> {
        let connection = connection(
            self.policy,
            &address,
            username,
            password,
            keep_alive_interval_in_secs,
        )?;
        self.push(connection)
    }

    async fn publish(
        &mut self,
        connection: Resource<Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> Result<(), Error> {
        let parts = self.parts(&connection)?;
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        publish(parts, topic, payload, qos).await
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        let conn = self.table.delete(connection)?;
        let _ = conn.client.try_disconnect();
        Ok(())
    }
}
