//! Spin's runtime config (`runtime-config.toml`, as an image may carry it): reading never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let path = std::path::Path::new("/nonexistent/spinrt-fuzz/runtime-config.toml");
    let _ = spinrt_engine::RuntimeConfig::from_toml(text, path);
});
