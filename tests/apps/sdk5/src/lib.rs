//! An app on spin-sdk 5, which speaks Spin 3's interfaces where Spin 2's have successors.
//!
//! - `POST /sqlite3` (body = a note), on `spin:sqlite/sqlite@3.0.0`: stores the note and marks
//!   every note seen; answers the new row's id, the rows each statement changed, and the notes
//! - `GET /llm`: asks for an inference, answers the outcome
//! - `GET /config/NAME`, `GET /config`: a component variable through `wasi:config`, all of them
//! - `PUT /wasi-kv/LABEL/KEY` (body = value), `GET /wasi-kv/LABEL/KEY`, `GET /wasi-kv/LABEL`
//!   (the keys), `POST /wasi-kv/LABEL` (body = `k=v,...`: set as a batch, read back as one),
//!   through `wasi:keyvalue`
//! - `POST /wasi-kv/LABEL/KEY/increment` (body = delta): the sum, through `wasi:keyvalue/atomics`
//! - `POST /wasi-kv/LABEL/KEY/race` (body = a value): two compare-and-swaps of KEY from the same
//!   starting point; the first to swap wins, the other fails, is retried with what it found
//! - `POST /pg3?ADDRESS` (body = a name), on `spin:postgres/postgres@3.0.0`: adds a row to a
//!   table, answers the columns (`name:type`) and every row's values, one line each
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite3::{Connection, Error, Value};

#[http_component]
fn handle(req: Request) -> Response {
    let parts: Vec<&str> = req.path().trim_start_matches('/').split('/').collect();
    match (req.method(), parts.as_slice()) {
        (Method::Get, ["config", rest @ ..]) => config(rest),
        (method, ["wasi-kv", label, rest @ ..]) => {
            wasi_kv(method, label, rest, req.body()).unwrap_or_else(|e| Response::new(500, e))
        }
        _ => other(req),
    }
}

fn config(name: &[&str]) -> Response {
    use spin_sdk::wit::wasi::config::store;
    match name {
        [name] => match store::get(name) {
            Ok(Some(value)) => Response::new(200, value),
            Ok(None) => Response::new(404, "no such variable"),
            Err(e) => Response::new(500, format!("{e:?}")),
        },
        _ => match store::get_all() {
            Ok(all) => {
                let pairs: Vec<String> = all.iter().map(|(k, v)| format!("{k}={v}")).collect();
                Response::new(200, pairs.join(","))
            }
            Err(e) => Response::new(500, format!("{e:?}")),
        },
    }
}

fn wasi_kv(method: &Method, label: &str, key: &[&str], body: &[u8]) -> Result<Response, String> {
    use spin_sdk::wit::wasi::keyvalue::{batch, store};
    let bucket = store::open(label).map_err(|e| format!("{e:?}"))?;
    let failed = |e: store::Error| format!("{e:?}");
    Ok(match (method, key) {
        (Method::Put, [key]) => {
            bucket.set(key, body).map_err(failed)?;
            Response::new(200, "stored")
        }
        (Method::Get, [key]) => match bucket.get(key).map_err(failed)? {
            Some(value) => Response::new(200, value),
            None => Response::new(404, "no such key"),
        },
        (Method::Get, []) => {
            Response::new(200, bucket.list_keys(None).map_err(failed)?.keys.join(","))
        }
        (Method::Post, [key, "increment"]) => {
            let delta: i64 = String::from_utf8_lossy(body).parse().unwrap_or(1);
            let sum = spin_sdk::wit::wasi::keyvalue::atomics::increment(&bucket, key, delta)
                .map_err(failed)?;
            Response::new(200, sum.to_string())
        }
        (Method::Post, [key, "race"]) => Response::new(200, race(&bucket, key, body)?),
        (Method::Post, []) => {
            let pairs: Vec<(String, Vec<u8>)> = String::from_utf8_lossy(body)
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect();
            batch::set_many(&bucket, &pairs).map_err(failed)?;
            let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
            let found = batch::get_many(&bucket, &keys).map_err(failed)?;
            let found: Vec<String> = found
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        String::from_utf8_lossy(v.as_deref().unwrap_or(b"-"))
                    )
                })
                .collect();
            Response::new(200, found.join(","))
        }
        _ => Response::new(405, "unsupported"),
    })
}

fn other(req: Request) -> Response {
    match (req.method(), req.path()) {
        (Method::Post, "/sqlite3") => {
            let note = String::from_utf8_lossy(req.body()).into_owned();
            match notes(note) {
                Ok(answer) => Response::new(200, answer),
                Err(e) => Response::new(500, format!("{e:?}")),
            }
        }
        (Method::Get, "/llm") => {
            match spin_sdk::llm::infer(spin_sdk::llm::InferencingModel::Llama2Chat, "hi") {
                Ok(result) => Response::new(200, result.text),
                Err(e) => Response::new(500, format!("{e:?}")),
            }
        }
        (Method::Post, "/pg3") => {
            let name = String::from_utf8_lossy(req.body()).into_owned();
            match pets(req.query(), name) {
                Ok(lines) => Response::new(200, lines.join("\n")),
                Err(e) => Response::new(500, format!("{e:?}")),
            }
        }
        _ => Response::new(404, "no such test path"),
    }
}

fn notes(note: String) -> Result<String, Error> {
    let db = Connection::open_default()?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, note TEXT, seen INTEGER)",
        &[],
    )?;
    db.execute(
        "INSERT INTO notes (note, seen) VALUES (?, 0)",
        &[Value::Text(note)],
    )?;
    let (rowid, inserted) = (db.last_insert_rowid(), db.changes());
    db.execute("UPDATE notes SET seen = 1", &[])?;
    let updated = db.changes();
    let all = db.execute("SELECT note FROM notes ORDER BY id", &[])?;
    let notes: Vec<&str> = all
        .rows()
        .map(|row| row.get::<&str>("note").unwrap_or("?"))
        .collect();
    Ok(format!(
        "rowid={rowid} inserted={inserted} updated={updated} notes={}",
        notes.join(",")
    ))
}

fn pets(address: &str, name: String) -> Result<Vec<String>, spin_sdk::pg3::Error> {
    use spin_sdk::pg3::{Connection, ParameterValue as P};
    let db = Connection::open(address)?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS pets (id SERIAL PRIMARY KEY, name TEXT NOT NULL, \
         born DATE, weight FLOAT8, tags JSONB)",
        &[],
    )?;
    db.execute(
        "INSERT INTO pets (name, born, weight, tags) VALUES ($1, $2, $3, '{\"a\": 1}')",
        &[P::Str(name), P::Date((2020, 2, 29)), P::Floating64(4.5)],
    )?;
    let rows = db.query(
        "SELECT id, name, born, weight, tags FROM pets ORDER BY id",
        &[],
    )?;
    let mut lines = vec![rows
        .columns
        .iter()
        .map(|c| format!("{}:{:?}", c.name, c.data_type))
        .collect::<Vec<_>>()
        .join(",")];
    for row in &rows.rows {
        let values: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        lines.push(values.join(","));
    }
    Ok(lines)
}

fn race(
    bucket: &spin_sdk::wit::wasi::keyvalue::store::Bucket,
    key: &str,
    value: &[u8],
) -> Result<String, String> {
    use spin_sdk::wit::wasi::keyvalue::atomics::{swap, Cas, CasError};
    let debug = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let slow = Cas::new(bucket, key).map_err(|e| debug(&e))?;
    let fast = Cas::new(bucket, key).map_err(|e| debug(&e))?;
    swap(fast, b"fast").map_err(|e| debug(&e))?;
    match swap(slow, value) {
        Ok(()) => Err("the second swap from the same start succeeded".into()),
        Err(CasError::CasFailed(retry)) => {
            let found = retry.current().map_err(|e| debug(&e))?.unwrap_or_default();
            swap(retry, value).map_err(|e| debug(&e))?;
            let now = bucket.get(key).map_err(|e| debug(&e))?.unwrap_or_default();
            Ok(format!(
                "found {} then swapped to {}",
                String::from_utf8_lossy(&found),
                String::from_utf8_lossy(&now)
            ))
        }
        Err(e) => Err(debug(&e)),
    }
}
