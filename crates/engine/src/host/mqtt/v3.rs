//! `spin:mqtt/mqtt@3.0.0`: the same publishing as `fermyon:spin/mqtt` through async functions,
//! without holding the instance's state while waiting for the broker.

use rumqttc::QoS;
use wasmtime::component::{Accessor, Linker, Resource};

use super::{Connection, Mqtt, MqttView, view};
use crate::InstanceState;
use crate::host::bindings::fermyon::spin::mqtt::{self, Error as V2Error};
use crate::host::bindings::spin::mqtt::mqtt::{self as v3, Error, Qos};

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    v3::add_to_linker::<_, Mqtt>(linker, view)
}

fn error(e: V2Error) -> Error {
    match e {
        V2Error::InvalidAddress => Error::InvalidAddress,
        V2Error::TooManyConnections => Error::TooManyConnections,
        V2Error::ConnectionFailed(e) => Error::ConnectionFailed(e),
        V2Error::Other(e) => Error::Other(e),
    }
}

impl v3::Host for MqttView<'_> {}

impl v3::HostConnection for MqttView<'_> {
    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        mqtt::HostConnection::drop(self, connection).await
    }
}

impl<U> v3::HostConnectionWithStore<U> for Mqtt {
    async fn open(
        store: &Accessor<U, Self>,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> Result<Resource<Connection>, Error> {
        store.with(|mut access| {
            let mut view = access.get();
            let connection = super::connection(
                view.policy,
                &address,
                username,
                password,
                keep_alive_interval_in_secs,
            )
            .map_err(error)?;
            view.push(connection).map_err(error)
        })
    }

    async fn publish(
        store: &Accessor<U, Self>,
        connection: Resource<Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> Result<(), Error> {
        let parts = store.with(|mut access| access.get().parts(&connection).map_err(error))?;
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        super::publish(parts, topic, payload, qos)
            .await
            .map_err(error)
    }
}
