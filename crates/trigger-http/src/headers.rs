//! The `spin-*` request headers, with the values Spin gives them, and the same values under the
//! names the WAGI executor puts them in a command's environment.

use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use spinrt_app::routes::RouteMatch;

/// Spin's values for one request: `(header name, WAGI environment name, value)`.
pub fn spin_values(
    full_url: &str,
    route: &RouteMatch<'_>,
    client_addr: SocketAddr,
) -> Vec<(String, String, String)> {
    let mut values: Vec<(String, String, String)> = [
        ("spin-path-info", "PATH_INFO", route.path_info()),
        ("spin-full-url", "X_FULL_URL", full_url),
        ("spin-matched-route", "X_MATCHED_ROUTE", route.based_route()),
        ("spin-base-path", "X_BASE_PATH", "/"),
        (
            "spin-raw-component-route",
            "X_RAW_COMPONENT_ROUTE",
            route.raw_route(),
        ),
        (
            "spin-component-route",
            "X_COMPONENT_ROUTE",
            route.component_route(),
        ),
    ]
    .into_iter()
    .map(|(h, e, v)| (h.to_string(), e.to_string(), v.to_string()))
    .collect();
    values.push((
        "spin-client-addr".into(),
        "X_CLIENT_ADDR".into(),
        client_addr.to_string(),
    ));
    for (name, value) in route.params() {
        values.push((
            format!(
                "spin-path-match-{}",
                name.to_ascii_lowercase().replace('_', "-")
            ),
            format!("X_PATH_MATCH_{}", name.to_ascii_uppercase()),
            value.clone(),
        ));
    }
    values
}

/// Adds Spin's headers to a request's headers (replacing any the client sent under those
/// names, so a client cannot forge them) and drops the hop-by-hop `connection` header.
pub fn apply(
    headers: &mut HeaderMap,
    full_url: &str,
    route: &RouteMatch<'_>,
    client_addr: SocketAddr,
) {
    headers.remove(http::header::CONNECTION);
    for (name, _, value) in spin_values(full_url, route, client_addr) {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(&name), HeaderValue::try_from(&value))
        else {
            log::debug!("skipping header {name}: not representable");
            continue;
        };
        headers.insert(name, value);
    }
}
