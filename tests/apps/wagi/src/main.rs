//! A WAGI command: what it answers depends on the path under its route (`PATH_INFO`).
//!
//! - `/echo`: the request body back;
//! - `/env`: its arguments (`arg=...`, one per line) and environment (`NAME=value`, sorted);
//! - `/redirect`: `Location` only (a 302);
//! - `/teapot`: `Status: 418` with a body;
//! - `/exit`: exits with status 3 before writing anything;
//! - `/silent`: writes nothing;
//! - `/no-content-type`: a body without the headers CGI needs.

use std::io::{Read, Write};

fn main() {
    let path = std::env::var("PATH_INFO").unwrap_or_default();
    let mut out = std::io::stdout().lock();
    match path.as_str() {
        "/echo" => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body).unwrap();
            write!(out, "Content-Type: application/octet-stream\n\n").unwrap();
            out.write_all(&body).unwrap();
        }
        "/env" => {
            write!(out, "Content-Type: text/plain\r\nX-Wagi: yes\r\n\r\n").unwrap();
            for arg in std::env::args() {
                writeln!(out, "arg={arg}").unwrap();
            }
            let mut vars: Vec<(String, String)> = std::env::vars().collect();
            vars.sort();
            for (name, value) in vars {
                writeln!(out, "{name}={value}").unwrap();
            }
        }
        "/redirect" => write!(out, "Location: /elsewhere\n\n").unwrap(),
        "/teapot" => write!(
            out,
            "Status: 418 I'm a teapot\nContent-Type: text/plain\n\nshort and stout"
        )
        .unwrap(),
        "/exit" => std::process::exit(3),
        "/silent" => {}
        "/no-content-type" => write!(out, "just a body").unwrap(),
        other => write!(
            out,
            "Status: 404\nContent-Type: text/plain\n\nno test path {other}\n"
        )
        .unwrap(),
    }
}
