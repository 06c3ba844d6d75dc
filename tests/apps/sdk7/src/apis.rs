//! Spin's async interfaces as spin-sdk 7 calls them; each route answers one line (or lines)
//! of what the calls gave, errors as their `Debug`.
//!
//! - `GET /variable/NAME`: `spin:variables@3`
//! - `PUT|GET|DELETE /kv/KEY`, `GET /kv` (the keys, through their stream), `GET /kv/other/KEY`
//!   (a store not granted): `spin:key-value@3`
//! - `POST /sqlite` (body = a note): `spin:sqlite@3.1`'s async calls: the new row's id, the
//!   rows changed, the notes (their rows through the stream)
//! - `POST /redis?ADDRESS` (body = a value): set/get, incr, sadd/smembers, execute, publish
//! - `POST /mqtt?ADDRESS` (body = a message): publishes it on `spinrt/sdk7`
//! - `POST /pg?ADDRESS`, `POST /mysql?ADDRESS` (body = a name): adds a row, answers every row
use spin_sdk::{key_value, mqtt, mysql, pg, redis, sqlite, variables};

/// The first segments of the paths this module serves.
pub const ROUTES: &[&str] = &["variable", "kv", "sqlite", "redis", "mqtt", "pg", "mysql"];

pub type Answer = Result<(u16, String), String>;

fn failed(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

pub async fn variable(name: &str) -> Answer {
    Ok((200, variables::get(name).await.map_err(failed)?))
}

pub async fn kv(method: &str, key: &[&str], body: Vec<u8>) -> Answer {
    let label = match key {
        ["other", ..] => "other",
        _ => "default",
    };
    let store = key_value::Store::open(label).await.map_err(failed)?;
    match (method, key) {
        ("GET", []) => {
            let keys = store.get_keys().await.collect().await.map_err(failed)?;
            Ok((200, keys.join(",")))
        }
        ("PUT", [key]) => {
            store.set(key, body).await.map_err(failed)?;
            Ok((200, "stored".into()))
        }
        ("DELETE", [key]) => {
            store.delete(key).await.map_err(failed)?;
            let exists = store.exists(key).await.map_err(failed)?;
            Ok((200, format!("deleted, exists={exists}")))
        }
        ("GET", [key] | ["other", key]) => match store.get(key).await.map_err(failed)? {
            Some(value) => Ok((200, String::from_utf8_lossy(&value).into_owned())),
            None => Ok((404, "no such key".into())),
        },
        _ => Ok((405, "no such key-value call".into())),
    }
}

pub async fn sqlite(note: String) -> Answer {
    use sqlite::Value;
    let db = sqlite::Connection::open_default().await.map_err(failed)?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)",
        [],
    )
    .await
    .map_err(failed)?;
    db.execute("INSERT INTO notes (body) VALUES (?)", [Value::Text(note)])
        .await
        .map_err(failed)?;
    let rowid = db.last_insert_rowid().await;
    let changes = db.changes().await;
    let rows = db
        .execute("SELECT body FROM notes ORDER BY id", [])
        .await
        .map_err(failed)?;
    let notes: Vec<String> = rows
        .collect()
        .await
        .map_err(failed)?
        .iter()
        .filter_map(|row| row.get::<&str>(0).map(str::to_string))
        .collect();
    Ok((
        200,
        format!("rowid={rowid} changes={changes} notes={}", notes.join(",")),
    ))
}

pub async fn redis(address: &str, value: String) -> Answer {
    use redis::{RedisParameter, RedisResult};
    let conn = redis::Connection::open(address).await.map_err(failed)?;
    conn.set("sdk7", value.as_bytes()).await.map_err(failed)?;
    let got = conn.get("sdk7").await.map_err(failed)?.unwrap_or_default();
    let count = conn.incr("sdk7-count").await.map_err(failed)?;
    conn.sadd("sdk7-set", &[value.as_str()])
        .await
        .map_err(failed)?;
    let mut members = conn.smembers("sdk7-set").await.map_err(failed)?;
    members.sort();
    let echoed = conn
        .execute("ECHO", [RedisParameter::Binary(b"echoed".to_vec())])
        .await
        .map_err(failed)?;
    let echoed = match echoed.as_slice() {
        [RedisResult::Binary(b)] => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    conn.publish("sdk7", value.as_bytes())
        .await
        .map_err(failed)?;
    Ok((
        200,
        format!(
            "{},{count},{},{echoed}",
            String::from_utf8_lossy(&got),
            members.join("+")
        ),
    ))
}

pub async fn mqtt(address: &str, message: Vec<u8>) -> Answer {
    let conn = mqtt::Connection::open(address, "", "", 30)
        .await
        .map_err(failed)?;
    conn.publish("spinrt/sdk7", message, mqtt::Qos::AtLeastOnce)
        .await
        .map_err(failed)?;
    Ok((200, "published".into()))
}

pub async fn pg(address: &str, name: String) -> Answer {
    use pg::ParameterValue;
    let conn = pg::Connection::open(address).await.map_err(failed)?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS sdk7 (id SERIAL PRIMARY KEY, name TEXT NOT NULL)",
        [],
    )
    .await
    .map_err(failed)?;
    let inserted = conn
        .execute(
            "INSERT INTO sdk7 (name) VALUES ($1)",
            [ParameterValue::Str(name)],
        )
        .await
        .map_err(failed)?;
    let rows = conn
        .query("SELECT id, name FROM sdk7 ORDER BY id", [])
        .await
        .map_err(failed)?;
    let lines: Vec<String> = rows
        .collect()
        .await
        .map_err(failed)?
        .iter()
        .map(|row| {
            let id: i32 = row.get("id").unwrap_or_default();
            let name: String = row.get("name").unwrap_or_default();
            format!("{id}:{name}")
        })
        .collect();
    Ok((200, format!("inserted={inserted} {}", lines.join(","))))
}

pub async fn mysql(address: &str, name: String) -> Answer {
    use mysql::ParameterValue;
    let conn = mysql::Connection::open(address).await.map_err(failed)?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS sdk7 (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL)",
        [],
    )
    .await
    .map_err(failed)?;
    conn.execute(
        "INSERT INTO sdk7 (name) VALUES (?)",
        [ParameterValue::Str(name)],
    )
    .await
    .map_err(failed)?;
    let rows = conn
        .query("SELECT id, name FROM sdk7 ORDER BY id", [])
        .await
        .map_err(failed)?;
    let lines: Vec<String> = rows
        .collect()
        .await
        .map_err(failed)?
        .iter()
        .map(|row| {
            let id: i32 = row.get("id").unwrap_or_default();
            let name: String = row.get("name").unwrap_or_default();
            format!("{id}:{name}")
        })
        .collect();
    Ok((200, lines.join(",")))
}
