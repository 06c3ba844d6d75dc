//! `spin.toml` (versions 1 and 2) as text: parsing never panics, and whatever parses also
//! builds a route table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let dir = std::path::Path::new("/nonexistent/spinrt-fuzz");
    if let Ok(app) = spinrt_app::manifest::parse(text, dir) {
        let _ = spinrt_app::routes::Router::build(&app.http_triggers);
    }
});
