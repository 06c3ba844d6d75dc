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
use super::key_value::KeyValueView;
use super::mysql::MySqlView;
use super::postgres::PostgresView;
use super::redis::RedisView;
use super::sqlite::SqliteView;
use super::variables::ComponentVariables;
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
    use bindings::fermyon::spin;
    fn variables(state: &mut InstanceState) -> &mut ComponentVariables {
        &mut state.host_and_table().0.variables
    }
    fn http(state: &mut InstanceState) -> &mut OutboundHttp {
        &mut state.host_and_table().0.http
    }
    spin::config::add_to_linker::<_, Config>(linker, variables)?;
    spin::http_types::add_to_linker::<_, Http>(linker, http)?;
    spin::http::add_to_linker::<_, Http>(linker, http)?;
    spin::key_value::add_to_linker::<_, KeyValue>(linker, super::key_value::view)?;
    spin::redis_types::add_to_linker::<_, Redis>(linker, super::redis::view)?;
    spin::redis::add_to_linker::<_, Redis>(linker, super::redis::view)?;
    spin::sqlite::add_to_linker::<_, Sqlite>(linker, super::sqlite::view)?;
    // Types only: an instance with nothing in it satisfies the import.
    linker.instance("fermyon:spin/rdbms-types")?;
    spin::postgres::add_to_linker::<_, Postgres>(linker, super::postgres::view)?;
    spin::mysql::add_to_linker::<_, MySql>(linker, super::mysql::view)?;
    spin::llm::add_to_linker::<_, super::llm::Llm>(linker, |_| super::llm::NoModels)
}

struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

struct Postgres;

impl HasData for Postgres {
    type Data<'a> = PostgresView<'a>;
}

struct MySql;

impl HasData for MySql {
    type Data<'a> = MySqlView<'a>;
}

struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

struct Redis;

impl HasData for Redis {
    type Data<'a> = RedisView<'a>;
}

struct Config;

impl HasData for Config {
    type Data<'a> = &'a mut ComponentVariables;
}

struct Http;

impl HasData for Http {
    type Data<'a> = &'a mut OutboundHttp;
}
