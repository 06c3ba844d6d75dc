//! Exercises Spin's host interfaces through spin-sdk, one path each; errors come back as a 500
//! whose body is the interface's error, so tests can assert on denials.
//!
//! - `GET /variables/NAME`: the component variable's value
//! - `PUT /kv/LABEL/KEY` (body = value), `GET /kv/LABEL/KEY`, `GET /kv/LABEL` (the keys)
//! - `POST /sqlite/NAME` (body = a note): stores it, answers every note so far
//! - `GET /http?URL`: fetches URL (outbound HTTP), answers its status and body
//! - `POST /mysql?ADDRESS` (body = a name): adds a row of every value type to a MySQL table,
//!   answers the columns (`name:type`) and every row's values, one line each
//! - `POST /pg?ADDRESS` (body = a name), on Spin 2's PostgreSQL interface: the same
//! - `GET /pg-unsigned?ADDRESS`: a query with an unsigned parameter, which PostgreSQL lacks
//! - `POST /redis?ADDRESS` (body = a value): sets `spinrt:value`, reads it back, counts calls
//!   in `spinrt:count`; answers `value,count`
//! - `POST /mqtt?ADDRESS` (body = a message): publishes it on `spinrt/test` (QoS 1)
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::{key_value, mysql, sqlite, variables};

fn ok(body: impl Into<Vec<u8>>) -> Response {
    Response::new(200, body.into())
}

fn failed(e: impl std::fmt::Debug) -> Response {
    Response::new(500, format!("{e:?}"))
}

#[http_component]
async fn handle(req: Request) -> Response {
    // The part after the component's route (`/granted/...` or `/denied/...`).
    let path = req
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .unwrap_or_default()
        .to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method(), parts.as_slice()) {
        (Method::Get, ["variables", name]) => match variables::get(name) {
            Ok(value) => ok(value),
            Err(e) => failed(e),
        },
        (method, ["kv", label, rest @ ..]) => {
            let store = match key_value::Store::open(label) {
                Ok(store) => store,
                Err(e) => return failed(e),
            };
            let result = match (method, rest) {
                (Method::Put, [key]) => store.set(key, req.body()).map(|()| b"stored".to_vec()),
                (Method::Get, [key]) => match store.get(key) {
                    Ok(Some(value)) => Ok(value),
                    Ok(None) => return Response::new(404, "no such key"),
                    Err(e) => Err(e),
                },
                (Method::Get, []) => store.get_keys().map(|keys| keys.join(",").into_bytes()),
                _ => return Response::new(405, "unsupported"),
            };
            result.map_or_else(failed, ok)
        }
        (Method::Post, ["sqlite", name]) => match notes(name, req.body()) {
            Ok(all) => ok(all.join(",")),
            Err(e) => failed(e),
        },
        (Method::Get, ["http"]) => {
            let url = req.query().to_string();
            let outbound = Request::get(url);
            match spin_sdk::http::send::<_, Response>(outbound).await {
                Ok(res) => ok(format!(
                    "{} {}",
                    res.status(),
                    String::from_utf8_lossy(res.body())
                )),
                Err(e) => failed(e),
            }
        }
        (Method::Post, ["mysql"]) => {
            let name = String::from_utf8_lossy(req.body()).into_owned();
            match pets(req.query(), name) {
                Ok(lines) => ok(lines.join("\n")),
                Err(e) => failed(e),
            }
        }
        (Method::Post, ["pg"]) => {
            let name = String::from_utf8_lossy(req.body()).into_owned();
            match pg_pets(req.query(), name) {
                Ok(lines) => ok(lines.join("\n")),
                Err(e) => failed(e),
            }
        }
        (Method::Get, ["pg-unsigned"]) => {
            let result = spin_sdk::pg::Connection::open(req.query())
                .and_then(|db| db.query("SELECT $1", &[mysql::ParameterValue::Uint32(7)]));
            match result {
                Ok(_) => ok("accepted"),
                Err(e) => failed(e),
            }
        }
        (Method::Post, ["redis"]) => {
            let result = spin_sdk::redis::Connection::open(req.query()).and_then(|db| {
                db.set("spinrt:value", &req.body().to_vec())?;
                let value = db.get("spinrt:value")?.unwrap_or_default();
                let count = db.incr("spinrt:count")?;
                Ok(format!("{},{count}", String::from_utf8_lossy(&value)))
            });
            result.map_or_else(failed, ok)
        }
        (Method::Post, ["mqtt"]) => {
            use spin_sdk::mqtt::{Connection, Qos};
            let result = Connection::open(req.query(), "", "", 30).and_then(|broker| {
                broker.publish("spinrt/test", &req.body().to_vec(), Qos::AtLeastOnce)
            });
            result.map_or_else(failed, |()| ok("published"))
        }
        _ => Response::new(404, "no such test path"),
    }
}

fn notes(name: &str, note: &[u8]) -> Result<Vec<String>, sqlite::Error> {
    let db = sqlite::Connection::open(name)?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, note TEXT, size REAL)",
        &[],
    )?;
    let note = String::from_utf8_lossy(note).into_owned();
    db.execute(
        "INSERT INTO notes (note, size) VALUES (?, ?)",
        &[
            sqlite::Value::Text(note.clone()),
            sqlite::Value::Real(note.len() as f64),
        ],
    )?;
    let result = db.execute("SELECT note, size FROM notes ORDER BY id", &[])?;
    Ok(result
        .rows()
        .map(|row| {
            format!(
                "{}:{}",
                row.get::<&str>("note").unwrap_or("?"),
                row.get::<f64>("size").unwrap_or(-1.0)
            )
        })
        .collect())
}

fn pets(address: &str, name: String) -> Result<Vec<String>, mysql::Error> {
    use mysql::ParameterValue as P;
    let db = mysql::Connection::open(address)?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS pets (id INT AUTO_INCREMENT PRIMARY KEY, \
         name VARCHAR(64) NOT NULL, age TINYINT UNSIGNED, weight DOUBLE, big BIGINT, \
         photo VARBINARY(16), note TEXT)",
        &[],
    )?;
    db.execute(
        "INSERT INTO pets (name, age, weight, big, photo, note) VALUES (?, ?, ?, ?, ?, ?)",
        &[
            P::Str(name),
            P::Uint8(3),
            P::Floating64(4.5),
            P::Int64(-9_007_199_254_740_993),
            P::Binary(vec![0, 1, 2, 255]),
            P::DbNull,
        ],
    )?;
    let rows = db.query(
        "SELECT id, name, age, weight, big, photo, note FROM pets WHERE age > ? ORDER BY id",
        &[P::Int32(2)],
    )?;
    let columns: Vec<String> = rows
        .columns
        .iter()
        .map(|c| format!("{}:{:?}", c.name, c.data_type))
        .collect();
    let mut lines = vec![columns.join(",")];
    for row in &rows.rows {
        let name = <String as mysql::Decode>::decode(&row[1])?;
        let values: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        lines.push(format!("{name}: {}", values.join(",")));
    }
    Ok(lines)
}

fn pg_pets(address: &str, name: String) -> Result<Vec<String>, spin_sdk::pg::Error> {
    use spin_sdk::pg::{Connection, ParameterValue as P};
    let db = Connection::open(address)?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS pets (id SERIAL PRIMARY KEY, name TEXT NOT NULL, \
         weight FLOAT8, big BIGINT, photo BYTEA, tags JSONB)",
        &[],
    )?;
    db.execute(
        "INSERT INTO pets (name, weight, big, photo, tags) VALUES ($1, $2, $3, $4, '[1]')",
        &[
            P::Str(name),
            P::Floating64(4.5),
            P::Int64(-9_007_199_254_740_993),
            P::Binary(vec![0, 1, 2, 255]),
        ],
    )?;
    let rows = db.query(
        "SELECT id, name, weight, big, photo, tags FROM pets ORDER BY id",
        &[],
    )?;
    let mut lines = vec![rows
        .columns
        .iter()
        .map(|c| format!("{}:{:?}", c.name, c.data_type))
        .collect::<Vec<_>>()
        .join(",")];
    for row in &rows.rows {
        lines.push(
            row.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    Ok(lines)
}
