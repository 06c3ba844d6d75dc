//! Host bindings generated from the vendored Spin WIT (`crates/engine/wit`).

wasmtime::component::bindgen!({
    path: "wit",
    world: "spinrt:host/spin-host",
    imports: {
        default: async,
        // A guest ending a span it never started traps, as in Spin.
        "wasi:otel/tracing": async | trappable,
    },
    with: {
        "wasi:clocks/wall-clock@0.2.0": wasmtime_wasi::p2::bindings::clocks::wall_clock,
        "fermyon:spin/key-value.store": super::key_value::Store,
        "fermyon:spin/sqlite.connection": super::sqlite::Connection,
        "wasi:keyvalue/store.bucket": super::key_value::Store,
        "wasi:keyvalue/atomics.cas": super::key_value::Cas,
        "spin:sqlite/sqlite.connection": super::sqlite::Connection,
        "fermyon:spin/redis.connection": super::redis::Connection,
        "fermyon:spin/mqtt.connection": super::mqtt::Connection,
        "fermyon:spin/mysql.connection": super::mysql::Connection,
        "fermyon:spin/postgres.connection": super::postgres::Connection,
        "spin:postgres/postgres@3.0.0.connection": super::postgres::Connection,
        "spin:postgres/postgres@4.2.0.connection": super::postgres::Connection,
        "spin:postgres/postgres@4.2.0.connection-builder": super::postgres::ConnectionBuilder,
        "spin:key-value/key-value.store": super::key_value::Store,
        "spin:mysql/mysql.connection": super::mysql::Connection,
        "spin:redis/redis.connection": super::redis::Connection,
        "spin:mqtt/mqtt.connection": super::mqtt::Connection,
    },
});
