//! `fermyon:spin/mqtt`: publishing to MQTT brokers `allowed_outbound_hosts` permits
//! (`mqtt://host:port`). The address carries the client id (`?client_id=...`), as in Spin.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::fermyon::spin::mqtt::{self, Error, Qos};
use super::outbound::OutboundPolicy;
use crate::InstanceState;

/// How long a publish may wait for the broker.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// An open connection: the client and the event loop that drives it.
pub struct Connection {
    client: AsyncClient,
    events: EventLoop,
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    mqtt::add_to_linker::<_, Mqtt>(linker, |s| {
        let (host, table) = s.host_and_table();
        MqttView {
            policy: &host.outbound,
            table,
        }
    })
}

struct Mqtt;

impl HasData for Mqtt {
    type Data<'a> = MqttView<'a>;
}

pub struct MqttView<'a> {
    policy: &'a OutboundPolicy,
    table: &'a mut ResourceTable,
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::ConnectionFailed(e.to_string())
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
        if !self.policy.allows_url(&address) {
            return Err(failed(format!("address {address} is not permitted")));
        }
        let mut options = MqttOptions::parse_url(&address).map_err(|_| Error::InvalidAddress)?;
        if !username.is_empty() {
            options.set_credentials(username, password);
        }
        options.set_keep_alive(Duration::from_secs(keep_alive_interval_in_secs.max(5)));
        let (client, events) = AsyncClient::new(options, 16);
        self.table
            .push(Connection { client, events })
            .map_err(|_| Error::TooManyConnections)
    }

    async fn publish(
        &mut self,
        connection: Resource<Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> Result<(), Error> {
        let conn = self
            .table
            .get_mut(&connection)
            .map_err(|e| Error::Other(e.to_string()))?;
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        conn.client
            .publish(topic, qos, false, payload)
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        // Drive the connection until the broker has the message, as far as the QoS promises;
        // a broker that never answers fails the call instead of holding the request forever.
        let acknowledged = async {
            loop {
                match conn.events.poll().await.map_err(failed)? {
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

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        let conn = self.table.delete(connection)?;
        let _ = conn.client.try_disconnect();
        Ok(())
    }
}
