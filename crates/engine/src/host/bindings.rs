//! Host bindings generated from the vendored Spin WIT (`crates/engine/wit`).

wasmtime::component::bindgen!({
    path: "wit",
    world: "spinrt:host/spin-host",
    imports: { default: async },
    with: {
        "fermyon:spin/key-value.store": super::key_value::Store,
        "fermyon:spin/sqlite.connection": super::sqlite::Connection,
        "spin:sqlite/sqlite.connection": super::sqlite::Connection,
        "fermyon:spin/redis.connection": super::redis::Connection,
        "fermyon:spin/mqtt.connection": super::mqtt::Connection,
        "fermyon:spin/mysql.connection": super::mysql::Connection,
        "spin:postgres/postgres.connection": super::postgres::Connection,
    },
});
