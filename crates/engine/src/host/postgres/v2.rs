//! `fermyon:spin/postgres@2.0.0` (spin-sdk 2/3's `pg`), on the shared `rdbms-types`: served by
//! the @4 implementation. PostgreSQL has no unsigned integers, so unsigned parameters are a
//! `bad-parameter` error, as in Spin; results of types outside `rdbms-types` come back as
//! `other` columns with `unsupported` values, and a database error as its text.

#![allow(clippy::result_large_err)]

use wasmtime::component::{Linker, Resource};

use super::{Connection, Postgres, PostgresView};
use crate::InstanceState;
use crate::host::bindings::fermyon::spin::postgres as v2;
use crate::host::bindings::fermyon::spin::rdbms_types as rdbms;
use crate::host::bindings::spin::postgres4_2_0::postgres as v4;

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    v2::add_to_linker::<_, Postgres>(linker, super::view)
}

fn parameter(p: rdbms::ParameterValue) -> Result<v4::ParameterValue, rdbms::Error> {
    use rdbms::ParameterValue as P;
    use v4::ParameterValue as Q;
    Ok(match p {
        P::Boolean(v) => Q::Boolean(v),
        P::Int8(v) => Q::Int8(v),
        P::Int16(v) => Q::Int16(v),
        P::Int32(v) => Q::Int32(v),
        P::Int64(v) => Q::Int64(v),
        P::Floating32(v) => Q::Floating32(v),
        P::Floating64(v) => Q::Floating64(v),
        P::Str(v) => Q::Str(v),
        P::Binary(v) => Q::Binary(v),
        P::DbNull => Q::DbNull,
        P::Uint8(_) | P::Uint16(_) | P::Uint32(_) | P::Uint64(_) => {
            return Err(rdbms::Error::BadParameter(
                "Postgres does not support unsigned integers".into(),
            ));
        }
    })
}

fn value(v: v4::DbValue) -> rdbms::DbValue {
    use rdbms::DbValue as W;
    use v4::DbValue as V;
    match v {
        V::Boolean(v) => W::Boolean(v),
        V::Int8(v) => W::Int8(v),
        V::Int16(v) => W::Int16(v),
        V::Int32(v) => W::Int32(v),
        V::Int64(v) => W::Int64(v),
        V::Floating32(v) => W::Floating32(v),
        V::Floating64(v) => W::Floating64(v),
        V::Str(v) => W::Str(v),
        V::Binary(v) => W::Binary(v),
        V::DbNull => W::DbNull,
        _ => W::Unsupported,
    }
}

fn data_type(t: v4::DbDataType) -> rdbms::DbDataType {
    use rdbms::DbDataType as U;
    use v4::DbDataType as T;
    match t {
        T::Boolean => U::Boolean,
        T::Int8 => U::Int8,
        T::Int16 => U::Int16,
        T::Int32 => U::Int32,
        T::Int64 => U::Int64,
        T::Floating32 => U::Floating32,
        T::Floating64 => U::Floating64,
        T::Str => U::Str,
        T::Binary => U::Binary,
        _ => U::Other,
    }
}

fn error(e: v4::Error) -> rdbms::Error {
    match e {
        v4::Error::ConnectionFailed(m) => rdbms::Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => rdbms::Error::BadParameter(m),
        v4::Error::QueryFailed(v4::QueryError::Text(m)) => rdbms::Error::QueryFailed(m),
        v4::Error::QueryFailed(v4::QueryError::DbError(db)) => {
            rdbms::Error::QueryFailed(db.as_text)
        }
        v4::Error::ValueConversionFailed(m) => rdbms::Error::ValueConversionFailed(m),
        v4::Error::Other(m) => rdbms::Error::Other(m),
    }
}

fn parameters(params: Vec<rdbms::ParameterValue>) -> Result<Vec<v4::ParameterValue>, rdbms::Error> {
    params.into_iter().map(parameter).collect()
}

impl v2::Host for PostgresView<'_> {}

impl v2::HostConnection for PostgresView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<Connection>, rdbms::Error> {
        v4::HostConnection::open(self, address).await.map_err(error)
    }

    async fn query(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<rdbms::ParameterValue>,
    ) -> Result<rdbms::RowSet, rdbms::Error> {
        let rows = v4::HostConnection::query(self, c, statement, parameters(params)?)
            .await
            .map_err(error)?;
        let (columns, rows) = super::older_rows(
            rows,
            |name, t| rdbms::Column {
                name,
                data_type: data_type(t),
            },
            value,
        );
        Ok(rdbms::RowSet { columns, rows })
    }

    async fn execute(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<rdbms::ParameterValue>,
    ) -> Result<u64, rdbms::Error> {
        v4::HostConnection::execute(self, c, statement, parameters(params)?)
            .await
            .map_err(error)
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        v4::HostConnection::drop(self, c).await
    }
}
