//! An SQS consumer for the SQS trigger (the spin-trigger-sqs plugin's `handle-queue-message`),
//! bound with wit-bindgen against the plugin's WIT. For each message with body B it sets the
//! Redis key `sqs:B` (on the server its `redis` variable names, through spin-sdk 3's
//! synchronous Redis) to a line
//! naming the message's id and attributes, and asks for the message to be deleted. A body
//! starting with `leave` is recorded the same way but left on the queue; the body `fail` is
//! answered with an error.

wit_bindgen::generate!({
    world: "spin-sqs",
    path: "wit",
});

use fermyon::spin_sqs::sqs_types::MessageAttributeValue;

struct Consumer;

impl Guest for Consumer {
    fn handle_queue_message(message: Message) -> Result<MessageAction, Error> {
        let body = message.body.clone().unwrap_or_default();
        if body == "fail" {
            return Err(Error::Other("refusing the message 'fail'".into()));
        }
        let mut attributes: Vec<String> = message
            .message_attributes
            .iter()
            .map(|a| {
                let value = match &a.value {
                    MessageAttributeValue::Str(s) => s.clone(),
                    MessageAttributeValue::Binary(b) => format!("{} bytes", b.len()),
                };
                format!(
                    "{}({})={value}",
                    a.name,
                    a.data_type.as_deref().unwrap_or("-")
                )
            })
            .collect();
        attributes.sort();
        let record = format!(
            "id={} attributes=[{}]",
            message.id.unwrap_or_default(),
            attributes.join(",")
        );
        record_in_redis(&format!("sqs:{body}"), record).map_err(Error::Other)?;
        Ok(if body.starts_with("leave") {
            MessageAction::Leave
        } else {
            MessageAction::Delete
        })
    }
}

fn record_in_redis(key: &str, value: String) -> Result<(), String> {
    let address = spin_sdk::variables::get("redis").map_err(|e| format!("{e:?}"))?;
    let db = spin_sdk::redis::Connection::open(&address).map_err(|e| format!("{e:?}"))?;
    db.set(key, &value.into_bytes())
        .map_err(|e| format!("{e:?}"))
}

export!(Consumer);
