//! Runs Spin's packaged runtime conformance suite (`tests/spin-conformance`, or the folder
//! `SPIN_CONFORMANCE_SUITE` names) through `spinrt up`, with the suite's own assertion rules:
//! status and body equal, every expected header present (optional ones may be absent), and no
//! other header in the response.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::bins::Up;
use crate::services::{self, Service};

/// Where the suite is: `SPIN_CONFORMANCE_SUITE` (another packaged copy), else the one this
/// repository keeps in `tests/spin-conformance`.
pub fn locate() -> PathBuf {
    match std::env::var_os("SPIN_CONFORMANCE_SUITE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("spin-conformance"),
    }
}

/// The suite's tests: each folder with a `test.json`, by name.
pub fn tests(suite: &Path) -> Vec<PathBuf> {
    let mut tests: Vec<PathBuf> = std::fs::read_dir(suite)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("test.json").is_file())
        .collect();
    tests.sort();
    tests
}

/// Starts what a test's preconditions ask for; returns them with the well-known port each
/// stands for (`%{port=N}` in the test).
fn start_services(suite: &Path, spec: &Value) -> Vec<(u16, Service)> {
    let mut started = Vec::new();
    for pre in spec["preconditions"].as_array().into_iter().flatten() {
        let service = match pre["kind"].as_str().unwrap_or_default() {
            "http-echo" => (80, services::http_echo()),
            "tcp-echo" => (7, services::tcp_echo()),
            "redis" => (6379, services::redis()),
            "mqtt" => (1883, services::mqtt()),
            "postgres" => {
                let mut init: Vec<PathBuf> =
                    std::fs::read_dir(suite.join("_services/postgres-init"))
                        .map(|d| d.map(|e| e.unwrap().path()).collect())
                        .unwrap_or_default();
                init.sort();
                (5432, services::postgres("spin_dev", &init))
            }
            // Provided by the runtime itself.
            "key-value-store" | "sqlite" => continue,
            other => panic!("unknown precondition '{other}'"),
        };
        started.push(service);
    }
    started
}

/// Replaces `%{port=N}` with the port of the service standing for N.
fn substitute(text: &str, ports: &BTreeMap<u16, u16>) -> String {
    let mut out = text.to_string();
    for (well_known, actual) in ports {
        out = out.replace(&format!("%{{port={well_known}}}"), &actual.to_string());
    }
    out
}

/// Runs one test; `Err` says which invocation failed and how.
pub fn run(suite: &Path, test: &Path, cache: &Path) -> Result<(), String> {
    let spec: Value =
        serde_json::from_slice(&std::fs::read(test.join("test.json")).unwrap()).unwrap();
    let services = start_services(suite, &spec);
    let ports: BTreeMap<u16, u16> = services.iter().map(|(n, s)| (*n, s.port)).collect();

    let app = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(test.join("spin.toml")).unwrap();
    std::fs::write(app.path().join("spin.toml"), substitute(&manifest, &ports)).unwrap();
    std::fs::copy(
        test.join("component.wasm"),
        app.path().join("component.wasm"),
    )
    .unwrap();
    let log = app.path().join("spinrt.log");
    let up = Up::try_start(
        app.path(),
        &["--cache-dir", cache.to_str().unwrap()],
        &[],
        &log,
    )?;

    let result = invoke_all(&spec, &ports, up.addr);
    drop(up);
    drop(services);
    result.map_err(|e| {
        format!(
            "{e}\n--- spinrt log ---\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    })
}

fn invoke_all(
    spec: &Value,
    ports: &BTreeMap<u16, u16>,
    addr: std::net::SocketAddr,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (n, invocation) in spec["invocations"].as_array().unwrap().iter().enumerate() {
        let request = &invocation["request"];
        let expected = &invocation["response"];
        let method = request["method"].as_str().unwrap_or("GET");
        let path = substitute(request["path"].as_str().unwrap_or("/"), ports);
        let client = crate::net::client();
        let mut req = client.request(method.parse().unwrap(), format!("http://{addr}{path}"));
        for h in request["headers"].as_array().into_iter().flatten() {
            req = req.header(
                h["name"].as_str().unwrap(),
                substitute(h["value"].as_str().unwrap(), ports),
            );
        }
        if let Some(body) = request["body"].as_str() {
            req = req.body(body.to_string());
        }
        let (status, headers, body) = rt.block_on(async {
            let res = req
                .send()
                .await
                .map_err(|e| format!("invocation {n}: {e}"))?;
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = res
                .text()
                .await
                .map_err(|e| format!("invocation {n}: {e}"))?;
            Ok::<_, String>((status, headers, body))
        })?;

        let want_status = expected["status"].as_u64().unwrap_or(200) as u16;
        let want_body = expected["body"].as_str().unwrap_or("");
        if status != want_status || body != want_body {
            return Err(format!(
                "invocation {n} ({method} {path}): got {status} {body:?}, expected {want_status} {want_body:?}"
            ));
        }
        let mut allowed = Vec::new();
        for h in expected["headers"].as_array().into_iter().flatten() {
            let name = h["name"].as_str().unwrap().to_ascii_lowercase();
            let optional = h["optional"].as_bool().unwrap_or(false);
            match (headers.get(&name), h["value"].as_str()) {
                (None, _) if optional => {}
                (None, _) => {
                    return Err(format!(
                        "invocation {n}: header '{name}' missing: {headers:?}"
                    ));
                }
                (Some(got), Some(want)) if got.to_str().unwrap_or_default() != want => {
                    return Err(format!(
                        "invocation {n}: header '{name}' is {got:?}, expected {want:?}"
                    ));
                }
                _ => {}
            }
            allowed.push(name);
        }
        if let Some(extra) = headers
            .keys()
            .find(|k| !allowed.contains(&k.as_str().to_string()))
        {
            return Err(format!(
                "invocation {n}: unexpected header '{extra}': {headers:?}"
            ));
        }
    }
    Ok(())
}
