//! Spin 1 modules: core modules whose bindings come from wit-bindgen 0.2 (Spin 1's SDKs, and the
//! Go SDK v2 that TinyGo apps are built with). They carry no component type, import Spin's
//! interfaces under their Spin 1 names and export `handle-http-request`.
//!
//! Their canonical ABI is the component model's in all but names (the allocator is
//! `canonical_abi_realloc`), so renaming those imports and exports to the unversioned
//! `fermyon:spin` interfaces and embedding the world that declares them (`wit-spin1/`) is
//! all it takes for the WASI adapter to make a component of them, as Spin does with an adapter
//! of its own.

use std::ops::Range;

use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{ExportKind, ExportSection, ImportSection, Module, RawSection};
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef};
use wit_component::StringEncoding;
use wit_parser::Resolve;

/// The export that marks a Spin 1 HTTP module, and what it becomes.
pub const HTTP_EXPORT: &str = "handle-http-request";
const HTTP_EXPORT_RENAMED: &str = "fermyon:spin/inbound-http#handle-request";
const REALLOC_EXPORT: &str = "canonical_abi_realloc";

/// The Spin 1 import modules this runtime serves and the interfaces that replaced them (their
/// functions keep their names but one).
const IMPORTS: &[(&str, &str)] = &[
    ("spin-config", "fermyon:spin/config"),
    ("wasi-outbound-http", "fermyon:spin/http"),
    ("key-value", "fermyon:spin/key-value"),
    ("outbound-redis", "fermyon:spin/redis"),
    ("sqlite", "fermyon:spin/sqlite"),
    ("outbound-pg", "fermyon:spin/postgres"),
    ("outbound-mysql", "fermyon:spin/mysql"),
    ("llm", "fermyon:spin/llm"),
];

const WASI_P1: &str = "wasi_snapshot_preview1";
const NOP: u8 = 0x01;

/// The unversioned `fermyon:spin` package as one WIT file, and our world over it.
const SPIN_WIT: &str = concat!(
    include_str!("../../wit-spin1/deps/spin@unversioned/package.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/http-types.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/inbound-http.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/inbound-redis.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/http.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/config.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/key-value.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/redis-types.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/redis.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/sqlite.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/rdbms-types.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/postgres.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/mysql.wit"),
    include_str!("../../wit-spin1/deps/spin@unversioned/llm.wit"),
);
const WORLD_WIT: &str = include_str!("../../wit-spin1/spin1.wit");
const WORLD: &str = "spin1-http-trigger";

/// The module with its Spin 1 imports and exports renamed and the world embedded: ready for
/// the WASI adapter.
pub fn prepare(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut module = rename(bytes)?;
    let mut resolve = Resolve::default();
    resolve
        .push_source("fermyon-spin.wit", SPIN_WIT)
        .map_err(|e| format!("the vendored Spin 1 WIT does not parse: {e:#}"))?;
    let package = resolve
        .push_source("spin1.wit", WORLD_WIT)
        .map_err(|e| format!("the Spin 1 world does not parse: {e:#}"))?;
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .map_err(|e| format!("the Spin 1 world is missing: {e:#}"))?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .map_err(|e| format!("cannot describe the Spin 1 module: {e:#}"))?;
    Ok(module)
}

/// Copies the module with imports renamed, and only the exports a component needs (memory,
/// allocator, handler, a reactor's `_initialize`): the rest (`_start`, libc's allocator,
/// asyncify) nobody calls.
fn rename(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let allocator = allocator(bytes)?;
    let realloc = allocator.function;
    let patched;
    let bytes = match allocator.skip_constructors {
        Some(call) => {
            let mut copy = bytes.to_vec();
            copy[call].fill(NOP);
            patched = copy;
            &patched[..]
        }
        None => bytes,
    };
    let mut module = Module::new();
    let mut reencoder = RoundtripReencoder;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("malformed core module: {e}"))?;
        match payload {
            Payload::ImportSection(reader) => {
                let mut imports = ImportSection::new();
                for import in reader.into_imports() {
                    let import = import.map_err(|e| format!("malformed import section: {e}"))?;
                    let (module_name, name) = if import.module == WASI_P1 {
                        (import.module, import.name)
                    } else {
                        renamed_import(import.module, import.name)?
                    };
                    let ty = reencoder
                        .entity_type(import.ty)
                        .map_err(|e| format!("import {}.{}: {e}", import.module, import.name))?;
                    imports.import(module_name, name, ty);
                }
                module.section(&imports);
            }
            Payload::ExportSection(reader) => {
                let mut exports = ExportSection::new();
                for export in reader {
                    let export = export.map_err(|e| format!("malformed export section: {e}"))?;
                    let (name, index) = match (export.name, export.kind) {
                        (HTTP_EXPORT, ExternalKind::Func) => (HTTP_EXPORT_RENAMED, export.index),
                        (REALLOC_EXPORT, ExternalKind::Func) => ("cabi_realloc", realloc),
                        // A reactor's initializer, which the component runs once.
                        ("_initialize", ExternalKind::Func) => ("_initialize", export.index),
                        (name, ExternalKind::Memory) => (name, export.index),
                        _ => continue,
                    };
                    exports.export(name, ExportKind::from(export.kind), index);
                }
                module.section(&exports);
            }
            payload => {
                if let Some((id, range)) = payload.as_section() {
                    module.section(&RawSection {
                        id,
                        data: &bytes[range],
                    });
                }
            }
        }
    }
    Ok(module.finish())
}

/// How the module's `canonical_abi_realloc` becomes `cabi_realloc`.
///
/// The host calls the allocator while it passes the request in, where the guest may call no
/// import. In modules linked as WASI commands (Spin 1's Rust and JS SDKs) every export first
/// runs the module's constructors, which read the environment through WASI; so the allocator
/// must not. The handler's export still runs them before the guest's code.
struct Allocator {
    /// The function to export as `cabi_realloc`.
    function: u32,
    /// A leading constructors call in it, to blank out with `nop`s.
    skip_constructors: Option<Range<usize>>,
}

fn allocator(bytes: &[u8]) -> Result<Allocator, String> {
    let malformed = |e: wasmparser::BinaryReaderError| format!("malformed core module: {e}");
    let mut imported_funcs = 0;
    let mut unit_types = Vec::new();
    let mut func_types = Vec::new();
    let mut exported = None;
    let mut defined = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let ty = ty.map_err(malformed)?;
                    unit_types.push(ty.params().is_empty() && ty.results().is_empty());
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import.map_err(malformed)?.ty, TypeRef::Func(_)) {
                        imported_funcs += 1;
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    func_types.push(ty.map_err(malformed)?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(malformed)?;
                    if export.name == REALLOC_EXPORT && export.kind == ExternalKind::Func {
                        exported = Some(export.index);
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let index = imported_funcs + defined;
                defined += 1;
                let Some(realloc) = exported.filter(|f| *f == index) else {
                    continue;
                };
                let as_is = Allocator {
                    function: realloc,
                    skip_constructors: None,
                };
                let mut ops = body.get_operators_reader().map_err(malformed)?;
                let start = ops.original_position();
                let Ok(Operator::Call { function_index }) = ops.read() else {
                    return Ok(as_is);
                };
                let constructors = function_index
                    .checked_sub(imported_funcs)
                    .and_then(|f| func_types.get(f as usize))
                    .and_then(|ty| unit_types.get(*ty as usize))
                    .copied()
                    .unwrap_or(false);
                if !constructors {
                    return Ok(as_is);
                }
                let end = ops.original_position();
                // wasm-ld's wrapper around an allocator it kept apart: export that one.
                let rest = (0..5).map_while(|_| ops.read().ok()).collect::<Vec<_>>();
                return Ok(match rest.as_slice() {
                    [
                        Operator::LocalGet { local_index: 0 },
                        Operator::LocalGet { local_index: 1 },
                        Operator::LocalGet { local_index: 2 },
                        Operator::LocalGet { local_index: 3 },
                        Operator::Call { function_index },
                    ] => Allocator {
                        function: *function_index,
                        skip_constructors: None,
                    },
                    _ => Allocator {
                        function: realloc,
                        skip_constructors: Some(start..end),
                    },
                });
            }
            _ => {}
        }
    }
    exported
        .map(|function| Allocator {
            function,
            skip_constructors: None,
        })
        .ok_or_else(|| {
            format!("a Spin 1 module must export `{REALLOC_EXPORT}` (wit-bindgen 0.2's allocator)")
        })
}

fn renamed_import<'a>(module: &str, name: &'a str) -> Result<(&'static str, &'a str), String> {
    let interface = IMPORTS
        .iter()
        .find(|(spin1, _)| *spin1 == module)
        .map(|(_, interface)| *interface)
        .ok_or_else(|| {
            format!(
                "a Spin 1 module importing `{module}.{name}`, which this runtime does not \
                 implement for Spin 1 modules (it serves HTTP, `spin-config`, \
                 `wasi-outbound-http`, `key-value`, `sqlite`, `outbound-redis`, `outbound-pg`, \
                 `outbound-mysql` and `llm`): rebuild the app with a current Spin SDK"
            )
        })?;
    let name = match (module, name) {
        ("wasi-outbound-http", "request") => "send-request",
        (_, name) => name,
    };
    Ok((interface, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Spin 1 module's shape: its import and export names and flat signatures, with
    /// `canonical_abi_realloc` as `realloc_body`.
    fn module(realloc_body: &str, extra_import: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module
                 (import "spin-config" "get-config" (func (param i32 i32 i32)))
                 {extra_import}
                 (memory (export "memory") 1)
                 (func $ctors)
                 (func $inner (param i32 i32 i32 i32) (result i32) i32.const 8)
                 (func (export "canonical_abi_realloc") (param i32 i32 i32 i32) (result i32)
                   {realloc_body})
                 (func (export "handle-http-request")
                   (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
                   i32.const 16)
                 (func (export "_start")))"#
        ))
        .unwrap()
    }

    /// (name, function index) of each export and (module, name) of each import.
    type Names = (Vec<(String, u32)>, Vec<(String, String)>);

    fn exports_and_imports(bytes: &[u8]) -> Names {
        let (mut exports, mut imports) = (Vec::new(), Vec::new());
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.unwrap() {
                Payload::ExportSection(reader) => {
                    for e in reader {
                        let e = e.unwrap();
                        exports.push((e.name.to_string(), e.index));
                    }
                }
                Payload::ImportSection(reader) => {
                    for i in reader.into_imports() {
                        let i = i.unwrap();
                        imports.push((i.module.to_string(), i.name.to_string()));
                    }
                }
                _ => {}
            }
        }
        (exports, imports)
    }

    /// The first instruction of function `index` (one import precedes the bodies).
    fn first_op(bytes: &[u8], index: u32) -> String {
        let mut defined = 1;
        for payload in Parser::new(0).parse_all(bytes) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                if defined == index {
                    let op = body.get_operators_reader().unwrap().read().unwrap();
                    return format!("{op:?}");
                }
                defined += 1;
            }
        }
        panic!("no function {index}")
    }

    #[test]
    fn names_become_the_unversioned_interfaces_and_it_componentizes() {
        let plain = module("local.get 3", "");
        let prepared = prepare(&plain).unwrap();
        let (exports, imports) = exports_and_imports(&prepared);
        let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "memory",
                "cabi_realloc",
                "fermyon:spin/inbound-http#handle-request"
            ]
        );
        assert_eq!(
            imports,
            [("fermyon:spin/config".to_string(), "get-config".to_string())]
        );
        let component = crate::componentize::componentize(&plain).unwrap();
        assert!(Parser::is_component(&component));
    }

    #[test]
    fn a_command_export_wrapper_gives_way_to_the_allocator_it_wraps() {
        // Functions: 0 the import, 1 $ctors, 2 $inner, 3 the wrapper.
        let wrapped = module(
            "call $ctors local.get 0 local.get 1 local.get 2 local.get 3 call $inner",
            "",
        );
        let (exports, _) = exports_and_imports(&rename(&wrapped).unwrap());
        assert!(
            exports.contains(&("cabi_realloc".to_string(), 2)),
            "{exports:?}"
        );
    }

    #[test]
    fn constructors_run_inline_by_the_allocator_are_skipped() {
        let inlined = module("call $ctors local.get 3", "");
        assert_eq!(first_op(&inlined, 3), "Call { function_index: 1 }");
        let renamed = rename(&inlined).unwrap();
        let (exports, _) = exports_and_imports(&renamed);
        assert!(
            exports.contains(&("cabi_realloc".to_string(), 3)),
            "{exports:?}"
        );
        assert_eq!(first_op(&renamed, 3), "Nop");
        assert!(crate::componentize::componentize(&inlined).is_ok());
    }

    #[test]
    fn an_unserved_spin_1_import_is_refused_by_name() {
        let pg = module(
            "local.get 3",
            r#"(import "outbound-mqtt" "publish" (func (param i32 i32)))"#,
        );
        let err = prepare(&pg).unwrap_err();
        assert!(err.contains("`outbound-mqtt.publish`"), "{err}");
    }
}
