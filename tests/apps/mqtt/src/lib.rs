//! An MQTT subscriber for the MQTT trigger (the spin-trigger-mqtt plugin's async
//! `handle-message`), bound with wit-bindgen against the plugin's WIT. For each message M on
//! topic T it publishes `got M on T` on `replies` to the broker its `broker` variable names
//! (spin-sdk 7's outbound MQTT); the message `fail` is answered with an error instead.

wit_bindgen::generate!({
    world: "spin-mqtt",
    path: "wit",
});

use spin_sdk::mqtt::{Connection, Qos};

struct Subscriber;

impl Guest for Subscriber {
    async fn handle_message(message: Payload, metadata: Metadata) -> Result<(), Error> {
        let text = String::from_utf8_lossy(&message).into_owned();
        if text == "fail" {
            return Err(Error::Other("refusing the message 'fail'".into()));
        }
        let failed = |e: &dyn std::fmt::Debug| Error::Other(format!("{e:?}"));
        let broker = spin_sdk::variables::get("broker")
            .await
            .map_err(|e| failed(&e))?;
        let connection = Connection::open(&broker, "", "", 30)
            .await
            .map_err(|e| failed(&e))?;
        let reply = format!("got {text} on {}", metadata.topic);
        connection
            .publish("replies", reply.into_bytes(), Qos::AtLeastOnce)
            .await
            .map_err(|e| failed(&e))
    }
}

export!(Subscriber);
