//! The unversioned `fermyon:spin` interfaces that Spin 1 modules reach once componentized
//! (`crate::componentize`): `config` (variables), `http` (outbound HTTP), `key-value`,
//! `sqlite`, `redis`, `postgres`, `mysql` and `llm` (no models, as for `@2.0.0`), and the
//! `inbound-http` export the HTTP trigger calls. Each serves through the same
//! state as its current counterpart, so the same variables, stores and
//! `allowed_outbound_hosts` apply.

mod config;
mod http;
mod key_value;
mod llm;
mod rdbms;
mod redis;
mod sqlite;

use wasmtime::component::{HasData, Linker};

use super::http::OutboundHttp;
use crate::InstanceState;

/// Bindings of the Spin 1 world (`wit-spin1/`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit-spin1",
        world: "spinrt:spin1/spin1-http-trigger",
        imports: { default: async },
        exports: { default: async },
        // The same types as @2.0.0's: one conversion less for PostgreSQL and MySQL.
        with: {
            "fermyon:spin/rdbms-types": crate::host::bindings::fermyon::spin::rdbms_types,
        },
    });
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    use super::{key_value, llm, mysql, postgres, redis, sqlite, variables};
    use bindings::fermyon::spin;
    fn http(state: &mut InstanceState) -> &mut OutboundHttp {
        &mut state.host_and_table().0.http
    }
    // Each interface takes the same view, under the same marker, as its current version.
    spin::config::add_to_linker::<_, variables::Variables>(linker, variables::view)?;
    spin::http_types::add_to_linker::<_, Http>(linker, http)?;
    spin::http::add_to_linker::<_, Http>(linker, http)?;
    spin::key_value::add_to_linker::<_, key_value::KeyValue>(linker, key_value::view)?;
    spin::redis_types::add_to_linker::<_, redis::Redis>(linker, redis::view)?;
    spin::redis::add_to_linker::<_, redis::Redis>(linker, redis::view)?;
    spin::sqlite::add_to_linker::<_, sqlite::Sqlite>(linker, sqlite::view)?;
    // Types only: an instance with nothing in it satisfies the import.
    linker.instance("fermyon:spin/rdbms-types")?;
    spin::postgres::add_to_linker::<_, postgres::Postgres>(linker, postgres::view)?;
    spin::mysql::add_to_linker::<_, mysql::MySql>(linker, mysql::view)?;
    spin::llm::add_to_linker::<_, llm::Llm>(linker, |_| llm::NoModels)
}

/// Outbound HTTP's state is the wasi:http hooks' (`OutboundHttp`); no interface before this
/// one took it alone.
struct Http;

impl HasData for Http {
    type Data<'a> = &'a mut OutboundHttp;
}
