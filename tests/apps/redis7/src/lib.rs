//! A Redis subscriber on spin-sdk 7 (`#[redis_subscriber]`, the async
//! `spin:redis/inbound-redis@3.0.0` export). For each message M it sets `spinrt:sdk7:M` to M on
//! the server the `reply_address` variable names and publishes `sdk7 got M` on `replies`.

use anyhow::Result;
use bytes::Bytes;
use spin_sdk::{redis, redis_subscriber, variables};

#[redis_subscriber]
async fn on_message(message: Bytes) -> Result<()> {
    let text = std::str::from_utf8(&message)?.to_string();
    let address = variables::get("reply_address").await?;
    let db = redis::Connection::open(&address).await?;
    db.set(format!("spinrt:sdk7:{text}"), &message).await?;
    db.publish("replies", format!("sdk7 got {text}")).await?;
    Ok(())
}
