//! The `spin-*` request headers, with the values Spin gives them.

use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use spinrt_app::routes::RouteMatch;

pub const FULL_URL: &str = "spin-full-url";
pub const PATH_INFO: &str = "spin-path-info";
pub const MATCHED_ROUTE: &str = "spin-matched-route";
pub const COMPONENT_ROUTE: &str = "spin-component-route";
pub const RAW_COMPONENT_ROUTE: &str = "spin-raw-component-route";
pub const BASE_PATH: &str = "spin-base-path";
pub const CLIENT_ADDR: &str = "spin-client-addr";
pub const PATH_MATCH_PREFIX: &str = "spin-path-match-";

/// Adds Spin's headers to a request's headers (replacing any the client sent under those
/// names, so a client cannot forge them) and drops the hop-by-hop `connection` header.
pub fn apply(
    headers: &mut HeaderMap,
    full_url: &str,
    route: &RouteMatch<'_>,
    client_addr: SocketAddr,
) {
    headers.remove(http::header::CONNECTION);
    let mut set = |name: &str, value: &str| {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value))
        else {
            log::debug!("skipping header {name}: not representable");
            return;
        };
        headers.insert(name, value);
    };
    set(PATH_INFO, route.path_info());
    set(FULL_URL, full_url);
    set(MATCHED_ROUTE, route.based_route());
    set(BASE_PATH, "/");
    set(RAW_COMPONENT_ROUTE, route.raw_route());
    set(COMPONENT_ROUTE, route.component_route());
    set(CLIENT_ADDR, &client_addr.to_string());
    for (name, value) in route.params() {
        let header = format!(
            "{PATH_MATCH_PREFIX}{}",
            name.to_ascii_lowercase().replace('_', "-")
        );
        set(&header, value);
    }
}
