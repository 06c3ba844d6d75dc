//! WASI 0.2.0-rc-2023-10-18, the release candidate spin-sdk 2.x builds against: `wasi:io`
//! poll and streams, `wasi:http` types and the outgoing handler, and the incoming-handler
//! export. An app built with spin-sdk 2 for `wasm32-wasi` takes only these from the release
//! candidate (the rest of its WASI comes from the 0.2 adapter).
//!
//! Nothing here holds state or does I/O of its own: the release candidate's resources are the
//! WASI 0.2 host's resources (the same Rust types in the same resource table), and each call
//! is translated to the 0.2 call that does the same thing. So a spin-sdk 2 app gets the same
//! streams, the same outbound policy and the same response path as a 0.2 app.

mod http;
mod io;

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use crate::InstanceState;

/// The release-candidate interfaces a component may import.
pub const INTERFACES: &[&str] = &[
    "wasi:io/poll@0.2.0-rc-2023-10-18",
    "wasi:io/streams@0.2.0-rc-2023-10-18",
    "wasi:http/types@0.2.0-rc-2023-10-18",
    "wasi:http/outgoing-handler@0.2.0-rc-2023-10-18",
];

/// Bindings of the release-candidate interfaces; the resources are WASI 0.2's.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spinrt:host/http-trigger-2023-10-18",
        imports: {
            "wasi:io/poll@0.2.0-rc-2023-10-18.poll-list": async | trappable,
            "wasi:io/poll@0.2.0-rc-2023-10-18.poll-one": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[method]input-stream.blocking-read": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[method]input-stream.blocking-skip": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[drop]input-stream": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[method]output-stream.blocking-write-and-flush": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[method]output-stream.blocking-flush": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[method]output-stream.blocking-write-zeroes-and-flush": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[method]output-stream.blocking-splice": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[method]output-stream.forward": async | trappable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.[drop]output-stream": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        require_store_data_send: true,
        with: {
            "wasi:io/poll@0.2.0-rc-2023-10-18.pollable": wasmtime_wasi::p2::DynPollable,
            "wasi:io/streams@0.2.0-rc-2023-10-18.input-stream": wasmtime_wasi::p2::DynInputStream,
            "wasi:io/streams@0.2.0-rc-2023-10-18.output-stream": wasmtime_wasi::p2::DynOutputStream,
            "wasi:io/streams@0.2.0-rc-2023-10-18.error": wasmtime_wasi::p2::IoError,
            "wasi:http/types@0.2.0-rc-2023-10-18.fields": wasmtime_wasi_http::FieldMap,
            "wasi:http/types@0.2.0-rc-2023-10-18.incoming-request": wasmtime_wasi_http::p2::types::HostIncomingRequest,
            "wasi:http/types@0.2.0-rc-2023-10-18.outgoing-request": wasmtime_wasi_http::p2::types::HostOutgoingRequest,
            "wasi:http/types@0.2.0-rc-2023-10-18.response-outparam": wasmtime_wasi_http::p2::types::HostResponseOutparam,
            "wasi:http/types@0.2.0-rc-2023-10-18.incoming-response": wasmtime_wasi_http::p2::types::HostIncomingResponse,
            "wasi:http/types@0.2.0-rc-2023-10-18.outgoing-response": wasmtime_wasi_http::p2::types::HostOutgoingResponse,
            "wasi:http/types@0.2.0-rc-2023-10-18.future-incoming-response": wasmtime_wasi_http::p2::types::HostFutureIncomingResponse,
            "wasi:http/types@0.2.0-rc-2023-10-18.incoming-body": wasmtime_wasi_http::p2::body::HostIncomingBody,
            "wasi:http/types@0.2.0-rc-2023-10-18.outgoing-body": wasmtime_wasi_http::p2::body::HostOutgoingBody,
            "wasi:http/types@0.2.0-rc-2023-10-18.future-trailers": wasmtime_wasi_http::p2::body::HostFutureTrailers,
        },
        trappable_error_type: {
            "wasi:io/streams@0.2.0-rc-2023-10-18.stream-error" => wasmtime_wasi::p2::StreamError,
        },
    });
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    use bindings::wasi::http;
    use bindings::wasi::io0_2_0_rc_2023_10_18 as io;
    fn io_view(state: &mut InstanceState) -> &mut ResourceTable {
        state.ctx().table
    }
    fn http_view(state: &mut InstanceState) -> WasiHttpCtxView<'_> {
        state.http()
    }
    io::poll::add_to_linker::<_, Io>(linker, io_view)?;
    io::streams::add_to_linker::<_, Io>(linker, io_view)?;
    http::types::add_to_linker::<_, Http>(linker, http_view)?;
    http::outgoing_handler::add_to_linker::<_, Http>(linker, http_view)
}

struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

struct Http;

impl HasData for Http {
    type Data<'a> = WasiHttpCtxView<'a>;
}
