//! Parsing what the `echo` test app answers.

use std::collections::BTreeMap;

/// The `name: value` lines the echo app writes, as a map.
pub fn echo_lines(body: &str) -> BTreeMap<String, String> {
    body.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
