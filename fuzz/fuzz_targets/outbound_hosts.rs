//! `allowed_outbound_hosts` rules, one per line, then an empty line, then URLs to check, one
//! per line: parsing and checking never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spinrt_engine::host::outbound::OutboundPolicy;

fuzz_target!(|text: &str| {
    let (rules, urls) = text.split_once("\n\n").unwrap_or((text, "https://example.com"));
    let Ok(policy) = OutboundPolicy::parse(rules.lines()) else {
        return;
    };
    for url in urls.lines() {
        let _ = policy.allows_url(url);
        if let Ok(addr) = url.parse() {
            let _ = policy.allows_socket(addr);
        }
    }
});
