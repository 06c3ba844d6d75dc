//! A locked app (the JSON a Spin artifact carries): reading it, turning it into the app model
//! and routing never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(locked) = spinrt_app::locked::LockedApp::from_json(bytes) else {
        return;
    };
    if let Ok(app) = locked.into_app() {
        let _ = spinrt_app::routes::Router::build(&app.http_triggers);
    }
});
