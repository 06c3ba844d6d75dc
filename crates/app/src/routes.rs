//! Spin's HTTP route table.
//!
//! Rules, as Spin applies them: a route is exact (`/a/b`), ends in a trailing wildcard (`/a/...`,
//! or `/a/*`), and may hold `:name` parameter segments. The most specific route wins: segment by
//! segment, exact beats parameter beats wildcard. Two routes that match the same set of paths
//! are an error when the table is built, never a surprise at request time.

use std::fmt;

use routefinder::Segment;

use crate::{AppError, HttpTrigger, Result};

/// The prefix Spin reserves for its own endpoints (health, info).
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// A trigger's route as written in the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `route = "/path"`
    Path(String),
    /// `route = { private = true }`: reachable only by service chaining, never over HTTP.
    Private,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Path(p) => f.write_str(p),
            Route::Private => f.write_str("(private)"),
        }
    }
}

#[derive(Debug)]
struct Entry {
    component: String,
    /// The route as written, made absolute: what `spin-raw-component-route` carries.
    raw: String,
    /// The route with Spin's base ("/") applied: what `spin-matched-route` carries.
    based: String,
}

/// Resolves request paths to components.
#[derive(Debug)]
pub struct Router {
    inner: routefinder::Router<Entry>,
}

impl Router {
    /// Builds the table from the app's HTTP triggers; private routes are left out.
    pub fn build<'a>(triggers: impl IntoIterator<Item = &'a HttpTrigger>) -> Result<Self> {
        let mut inner = routefinder::Router::new();
        // Routes that match the same paths, keyed by their shape with parameter names erased.
        let mut shapes: std::collections::HashMap<String, (String, String)> = Default::default();
        for trigger in triggers {
            let Route::Path(route) = &trigger.route else {
                continue;
            };
            let raw = absolutize(route);
            let based = strip_one_trailing_slash(&raw);
            let spec = route_spec(&based).map_err(|e| {
                AppError::trigger(&trigger.id, format!("invalid route '{route}': {e}"))
            })?;
            if raw.starts_with(WELL_KNOWN_PREFIX) {
                return Err(AppError::trigger(
                    &trigger.id,
                    format!("route '{route}' is under {WELL_KNOWN_PREFIX}, which Spin reserves"),
                ));
            }
            let parsed: routefinder::RouteSpec = spec.as_str().try_into().map_err(|e| {
                AppError::trigger(&trigger.id, format!("invalid route '{route}': {e}"))
            })?;
            if let Some((other_route, other_component)) =
                shapes.insert(shape(&spec), (raw.clone(), trigger.component.clone()))
            {
                return Err(AppError::Routes(format!(
                    "duplicate route: '{route}' (component '{}') matches the same paths as '{other_route}' (component '{other_component}')",
                    trigger.component
                )));
            }
            inner
                .add(
                    parsed,
                    Entry {
                        component: trigger.component.clone(),
                        raw,
                        based,
                    },
                )
                .map_err(|e| {
                    AppError::trigger(&trigger.id, format!("invalid route '{route}': {e}"))
                })?;
        }
        Ok(Self { inner })
    }

    /// The best match for a request path, if any.
    pub fn route<'r>(&'r self, path: &str) -> Option<RouteMatch<'r>> {
        let m = self.inner.best_match(path)?;
        let entry = m.handler();
        let captures = m.captures();
        let path_info = captures
            .wildcard()
            .map(|w| {
                // Spin has always kept trailing slashes in path-info; routefinder drops them.
                match (w.is_empty(), path.ends_with('/')) {
                    (true, false) => String::new(),
                    (true, true) => "/".to_string(),
                    (false, false) => format!("/{w}"),
                    (false, true) => format!("/{w}/"),
                }
            })
            .unwrap_or_default();
        let params = captures
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(RouteMatch {
            entry,
            path_info,
            params,
        })
    }

    /// `(route, component)` pairs, most specific first.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inner
            .iter()
            .map(|(_, e)| (e.raw.as_str(), e.component.as_str()))
    }
}

/// What a request path matched, with everything the `spin-*` headers need.
#[derive(Debug)]
pub struct RouteMatch<'r> {
    entry: &'r Entry,
    path_info: String,
    params: Vec<(String, String)>,
}

impl<'r> RouteMatch<'r> {
    pub fn component(&self) -> &'r str {
        &self.entry.component
    }

    /// The route as written in the manifest (`spin-raw-component-route`).
    pub fn raw_route(&self) -> &'r str {
        &self.entry.raw
    }

    /// The route with the base applied (`spin-matched-route`).
    pub fn based_route(&self) -> &str {
        &self.entry.based
    }

    /// The route without its trailing wildcard (`spin-component-route`).
    pub fn component_route(&self) -> &str {
        self.entry
            .raw
            .strip_suffix("/...")
            .unwrap_or(&self.entry.raw)
    }

    /// The part of the path the trailing wildcard matched (`spin-path-info`).
    pub fn path_info(&self) -> &str {
        &self.path_info
    }

    /// `:name` parameters and their values, in route order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }
}

fn absolutize(route: &str) -> String {
    if route.starts_with('/') {
        route.to_string()
    } else {
        format!("/{route}")
    }
}

fn strip_one_trailing_slash(route: &str) -> String {
    route.strip_suffix('/').unwrap_or(route).to_string()
}

/// A route's shape: parameter names do not change which paths it matches.
fn shape(spec: &str) -> String {
    spec.split('/')
        .map(|seg| if seg.starts_with(':') { ":" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Turns Spin route syntax into routefinder syntax.
fn route_spec(based: &str) -> Result<String, String> {
    let (prefix, wildcard) = match based.strip_suffix("/...") {
        Some(prefix) => (prefix, true),
        None => match based.strip_suffix("/*") {
            Some(prefix) => (prefix, true),
            None => (based, false),
        },
    };
    if prefix.contains("...") {
        return Err("'...' may only end a route, as '/...'".into());
    }
    if prefix.contains('*') {
        return Err("'*' may only end a route, as '/*'".into());
    }
    // Request paths arrive percent-encoded, so a route with other characters would never match;
    // and routefinder finds segment boundaries by character where it means bytes.
    if let Some(c) = prefix
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_control())
    {
        return Err(format!(
            "{c:?} is not allowed in a route: routes are ASCII, percent-encode other characters"
        ));
    }
    for segment in prefix.split('/') {
        if segment == ":" {
            return Err("a ':' parameter needs a name".into());
        }
    }
    let spec = if wildcard {
        format!("{prefix}/*")
    } else {
        prefix.to_string()
    };
    // What routefinder would only find when a request comes (it panics matching such a spec).
    let parsed: routefinder::RouteSpec = spec.parse()?;
    let segments = parsed.segments();
    for (i, segment) in segments.iter().enumerate() {
        let next = segments.get(i + 1);
        match segment {
            Segment::Param(name)
                if !matches!(next, None | Some(Segment::Slash) | Some(Segment::Dot)) =>
            {
                return Err(format!(
                    "the parameter ':{name}' must end its path segment (at '/' or '.')"
                ));
            }
            Segment::Wildcard if next.is_some() => {
                return Err("'*' may only end a route, as '/*'".into());
            }
            _ => {}
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpExecutor;

    fn trigger(route: &str, component: &str) -> HttpTrigger {
        HttpTrigger {
            id: format!("t-{component}"),
            route: Route::Path(route.into()),
            component: component.into(),
            executor: HttpExecutor::Http,
        }
    }

    fn router(routes: &[(&str, &str)]) -> Router {
        let triggers: Vec<_> = routes.iter().map(|(r, c)| trigger(r, c)).collect();
        Router::build(&triggers).unwrap()
    }

    #[test]
    fn exact_beats_param_beats_wildcard() {
        let r = router(&[
            ("/...", "catchall"),
            ("/users/:id", "user"),
            ("/users/me", "me"),
            ("/users/...", "users"),
        ]);
        assert_eq!(r.route("/users/me").unwrap().component(), "me");
        assert_eq!(r.route("/users/42").unwrap().component(), "user");
        assert_eq!(r.route("/users/42/posts").unwrap().component(), "users");
        assert_eq!(r.route("/other").unwrap().component(), "catchall");
        assert_eq!(r.route("/").unwrap().component(), "catchall");
    }

    #[test]
    fn longest_wildcard_prefix_wins() {
        let r = router(&[("/a/...", "a"), ("/a/b/...", "ab")]);
        assert_eq!(r.route("/a/b/c").unwrap().component(), "ab");
        assert_eq!(r.route("/a/c").unwrap().component(), "a");
    }

    #[test]
    fn no_match_without_catchall() {
        let r = router(&[("/exact", "e"), ("/w/...", "w")]);
        assert!(r.route("/nope").is_none());
        assert!(r.route("/exact/more").is_none());
        assert_eq!(r.route("/w").unwrap().component(), "w");
    }

    #[test]
    fn header_values_for_wildcard_routes() {
        let r = router(&[("/foo/...", "foo")]);
        let m = r.route("/foo/bar/").unwrap();
        assert_eq!(m.raw_route(), "/foo/...");
        assert_eq!(m.based_route(), "/foo/...");
        assert_eq!(m.component_route(), "/foo");
        assert_eq!(m.path_info(), "/bar/");
        assert_eq!(r.route("/foo").unwrap().path_info(), "");
        assert_eq!(r.route("/foo/").unwrap().path_info(), "/");
        assert_eq!(r.route("/foo/a/b").unwrap().path_info(), "/a/b");
    }

    #[test]
    fn params_are_captured_in_order() {
        let r = router(&[("/base/:path_segment/:path_end/...", "rs")]);
        let m = r.route("/base/path/end/rest").unwrap();
        assert_eq!(
            m.params(),
            &[
                ("path_segment".to_string(), "path".to_string()),
                ("path_end".to_string(), "end".to_string())
            ]
        );
        assert_eq!(m.path_info(), "/rest");
    }

    /// Found by `make fuzz` (routes): routefinder panicked when a request was matched against
    /// a route with a multi-byte character after a parameter.
    #[test]
    fn routes_routefinder_would_panic_on_are_refused() {
        for route in ["/:\u{446}/t", "/\u{446}/:id", "/caf\u{e9}", "/a\u{7}b"] {
            let err = Router::build(&[trigger(route, "one")]).unwrap_err();
            assert!(
                err.to_string().contains("not allowed in a route"),
                "{route}: {err}"
            );
        }
        let router = Router::build(&[trigger("/ok/:id.json", "one")]).unwrap();
        assert!(router.route("/ok/7.json").is_some());
    }

    #[test]
    fn duplicates_are_an_error() {
        for (a, b) in [
            ("/same", "/same"),
            ("/w/...", "/w/*"),
            ("/p/:a", "/p/:b"),
            ("/t/", "/t"),
        ] {
            let err = Router::build(&[trigger(a, "one"), trigger(b, "two")]).unwrap_err();
            assert!(
                err.to_string().contains("duplicate route"),
                "{a} {b}: {err}"
            );
        }
    }

    #[test]
    fn malformed_routes_are_an_error() {
        for bad in ["/a/.../b", "/a/*/b", "/a/:/b", "/.well-known/spin/mine"] {
            let err = Router::build(&[trigger(bad, "c")]).unwrap_err();
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn private_routes_are_not_routable() {
        let t = HttpTrigger {
            id: "p".into(),
            route: Route::Private,
            component: "p".into(),
            executor: HttpExecutor::Http,
        };
        let r = Router::build([&t]).unwrap();
        assert_eq!(r.routes().count(), 0);
    }
}
