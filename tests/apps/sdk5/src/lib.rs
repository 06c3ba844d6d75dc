//! An app on spin-sdk 5, which speaks Spin 3's interfaces where Spin 2's have successors.
//!
//! - `POST /sqlite3` (body = a note), on `spin:sqlite/sqlite@3.0.0`: stores the note and marks
//!   every note seen; answers the new row's id, the rows each statement changed, and the notes
//! - `GET /llm`: asks for an inference, answers the outcome
//! - `POST /pg3?ADDRESS` (body = a name), on `spin:postgres/postgres@3.0.0`: adds a row to a
//!   table, answers the columns (`name:type`) and every row's values, one line each
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite3::{Connection, Error, Value};

#[http_component]
fn handle(req: Request) -> Response {
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
    let rows = db.query("SELECT id, name, born, weight, tags FROM pets ORDER BY id", &[])?;
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
