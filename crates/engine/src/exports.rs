//! Bindings of the guest exports non-HTTP triggers call (the HTTP trigger's come from
//! `wasmtime-wasi-http` and `host::spin1`). Generated from the same vendored WIT as the host
//! interfaces, and sharing their types.

/// `fermyon:spin/inbound-redis` (spin-sdk 3 to 5): `handle-message`, called synchronously.
pub mod inbound_redis {
    wasmtime::component::bindgen!({
        path: "wit-spin1",
        world: "spinrt:spin1/spin1-redis-trigger",
        exports: { default: async },
        with: {
            "fermyon:spin/redis-types": crate::host::spin1::bindings::fermyon::spin::redis_types,
        },
    });
}

/// `spin:redis/inbound-redis@3.0.0` (spin-sdk 7): an async export, called inside the store's
/// event loop.
pub mod inbound_redis3 {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spinrt:host/redis-trigger",
        exports: { default: async | store },
        with: {
            "spin:redis/redis@3.0.0": crate::host::bindings::spin::redis::redis,
        },
    });
}

/// The cron trigger plugin's `handle-cron-event` (fermyon:spin-cron@2.0.0, `wit/deps`).
pub mod cron {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin-cron/spin-cron@2.0.0",
        exports: { default: async },
    });
}

/// The MQTT trigger plugin's `handle-message` (spin:mqtt-trigger@3.0.0, `wit/deps`): an async
/// export, called inside the store's event loop.
pub mod mqtt {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin:mqtt-trigger/spin-mqtt@3.0.0",
        exports: { default: async | store },
    });
}

/// The SQS trigger plugin's `handle-queue-message` (fermyon:spin-sqs@2.0.0, `wit/deps`).
pub mod sqs {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin-sqs/spin-sqs@2.0.0",
        exports: { default: async },
    });
}
