//! A Redis subscriber on spin-sdk 3 (`#[redis_component]`, exporting the unversioned
//! `fermyon:spin/inbound-redis`). For each message M it sets `spinrt:sdk3:M` to M on the server
//! the `reply_address` variable names and publishes `sdk3 got M` on `replies`; the message
//! `fail` is refused with an error instead.

use anyhow::{bail, Result};
use bytes::Bytes;
use spin_sdk::{redis, redis_component, variables};

#[redis_component]
fn on_message(message: Bytes) -> Result<()> {
    let text = std::str::from_utf8(&message)?;
    if text == "fail" {
        bail!("refusing the message 'fail'");
    }
    let db = redis::Connection::open(&variables::get("reply_address")?)?;
    db.set(&format!("spinrt:sdk3:{text}"), &message.to_vec())?;
    db.publish("replies", &format!("sdk3 got {text}").into_bytes())?;
    Ok(())
}
