//! The route table: routes, one per line, then an empty line, then request paths, one per line.
//! Building never panics, and every path resolves or does not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spinrt_app::routes::Route;
use spinrt_app::{HttpExecutor, HttpTrigger};

fuzz_target!(|text: &str| {
    let (routes, paths) = text.split_once("\n\n").unwrap_or((text, "/"));
    let triggers: Vec<HttpTrigger> = routes
        .lines()
        .enumerate()
        .map(|(i, route)| HttpTrigger {
            id: format!("t{i}"),
            route: Route::Path(route.to_string()),
            component: format!("c{i}"),
            executor: HttpExecutor::default(),
        })
        .collect();
    let Ok(router) = spinrt_app::routes::Router::build(&triggers) else {
        return;
    };
    for path in paths.lines() {
        if let Some(found) = router.route(path) {
            let _ = (found.path_info(), found.params(), found.component_route());
        }
    }
});
