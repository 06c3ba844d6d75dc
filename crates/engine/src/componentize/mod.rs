//! Turning core Wasm modules into components, as Spin does.
//!
//! - A component passes through unchanged.
//! - A core module built for `wasm32-wasip1` (with a `component-type` section from wit-bindgen)
//!   is wrapped with the WASI preview1 adapter.
//! - A core module that exports `_start` (a WASI command: `cargo build` of a binary for
//!   `wasm32-wasip1`, what the command trigger runs) gets the adapter's command variant, which
//!   exports `wasi:cli/run`; it needs no component type.
//! - A core module without WASI imports (the conformance suite's `wasm32-unknown-unknown`
//!   builds) only needs its `component-type` section turned into a component.
//! - A Spin 1 module (wit-bindgen 0.2: Spin 1's SDKs, the Go SDK v2) gets its Spin 1 names
//!   mapped to the unversioned `fermyon:spin` interfaces first ([`spin1`]).

mod spin1;

use std::borrow::Cow;

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};

/// Returns a component for `bytes`, or why it cannot be one.
pub fn componentize(bytes: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if Parser::is_component(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    if !Parser::is_core_wasm(bytes) {
        return Err("not a WebAssembly module or component (bad magic number or version)".into());
    }
    let info = inspect(bytes)?;
    let spin1_module;
    let command = info.exports_start && !info.exports_spin1_http;
    let module = if info.has_component_type || command {
        bytes
    } else if info.exports_spin1_http {
        spin1_module = spin1::prepare(bytes)?;
        &spin1_module
    } else {
        return Err(
            "core module carries no component type information and is no Spin 1 HTTP module \
             (it does not export `handle-http-request`) nor a WASI command (it does not export \
             `_start`); rebuild it with a current Spin SDK"
                .into(),
        );
    };
    let mut encoder = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .map_err(|e| format!("cannot componentize core module: {e:#}"))?;
    if info.imports_wasi_p1 {
        let adapter = if command {
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
        } else {
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
        };
        encoder = encoder
            .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)
            .map_err(|e| format!("cannot load the WASI preview1 adapter: {e:#}"))?;
    }
    encoder
        .encode()
        .map(Cow::Owned)
        .map_err(|e| format!("cannot componentize core module: {e:#}"))
}

struct ModuleInfo {
    imports_wasi_p1: bool,
    has_component_type: bool,
    exports_spin1_http: bool,
    exports_start: bool,
}

fn inspect(bytes: &[u8]) -> Result<ModuleInfo, String> {
    let mut info = ModuleInfo {
        imports_wasi_p1: false,
        has_component_type: false,
        exports_spin1_http: false,
        exports_start: false,
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| format!("malformed core module: {e}"))? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| format!("malformed import section: {e}"))?;
                    if import.module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME {
                        info.imports_wasi_p1 = true;
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| format!("malformed export section: {e}"))?;
                    info.exports_spin1_http |= export.name == spin1::HTTP_EXPORT;
                    info.exports_start |= export.name == "_start";
                }
            }
            Payload::CustomSection(section) if section.name().starts_with("component-type") => {
                info.has_component_type = true;
            }
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_wasm() {
        let err = componentize(b"#!/bin/sh\necho hi\n").unwrap_err();
        assert!(err.contains("not a WebAssembly"), "{err}");
    }

    #[test]
    fn rejects_module_without_type_info() {
        // The smallest valid core module: magic and version only.
        let err = componentize(b"\0asm\x01\0\0\0").unwrap_err();
        assert!(err.contains("no component type information"), "{err}");
    }

    #[test]
    fn rejects_truncated_module() {
        let err = componentize(b"\0asm\x01\0\0\0\x01\x05\x01").unwrap_err();
        assert!(err.contains("malformed"), "{err}");
    }
}
