//! `spin:postgres/postgres@3.0.0` (spin-sdk 3's `pg3`, still in spin-sdk 4/5): a subset of
//! @4.0.0, served by the @4 implementation. Parameters map one to one; results of types @3
//! does not have come back as `other` columns with `unsupported` values, and a database
//! error as its text.

#![allow(clippy::result_large_err)]

use wasmtime::component::{Linker, Resource};

use super::{Connection, Postgres, PostgresView};
use crate::InstanceState;
use crate::host::bindings::spin::postgres3_0_0::postgres as v3;
use crate::host::bindings::spin::postgres4_2_0::postgres as v4;

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    v3::add_to_linker::<_, Postgres>(linker, super::view)
}

fn parameter(p: v3::ParameterValue) -> v4::ParameterValue {
    use v3::ParameterValue as P;
    use v4::ParameterValue as Q;
    match p {
        P::Boolean(v) => Q::Boolean(v),
        P::Int8(v) => Q::Int8(v),
        P::Int16(v) => Q::Int16(v),
        P::Int32(v) => Q::Int32(v),
        P::Int64(v) => Q::Int64(v),
        P::Floating32(v) => Q::Floating32(v),
        P::Floating64(v) => Q::Floating64(v),
        P::Str(v) => Q::Str(v),
        P::Binary(v) => Q::Binary(v),
        P::Date(v) => Q::Date(v),
        P::Time(v) => Q::Time(v),
        P::Datetime(v) => Q::Datetime(v),
        P::Timestamp(v) => Q::Timestamp(v),
        P::DbNull => Q::DbNull,
    }
}

fn value(v: v4::DbValue) -> v3::DbValue {
    use v3::DbValue as W;
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
        V::Date(v) => W::Date(v),
        V::Time(v) => W::Time(v),
        V::Datetime(v) => W::Datetime(v),
        V::Timestamp(v) => W::Timestamp(v),
        V::DbNull => W::DbNull,
        _ => W::Unsupported,
    }
}

fn data_type(t: v4::DbDataType) -> v3::DbDataType {
    use v3::DbDataType as U;
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
        T::Date => U::Date,
        T::Time => U::Time,
        T::Datetime => U::Datetime,
        T::Timestamp => U::Timestamp,
        _ => U::Other,
    }
}

fn error(e: v4::Error) -> v3::Error {
    match e {
        v4::Error::ConnectionFailed(m) => v3::Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => v3::Error::BadParameter(m),
        v4::Error::QueryFailed(v4::QueryError::Text(m)) => v3::Error::QueryFailed(m),
        v4::Error::QueryFailed(v4::QueryError::DbError(db)) => v3::Error::QueryFailed(db.as_text),
        v4::Error::ValueConversionFailed(m) => v3::Error::ValueConversionFailed(m),
        v4::Error::Other(m) => v3::Error::Other(m),
    }
}

impl v3::Host for PostgresView<'_> {}

impl v3::HostConnection for PostgresView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<Connection>, v3::Error> {
        v4::HostConnection::open(self, address).await.map_err(error)
    }

    async fn query(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> Result<v3::RowSet, v3::Error> {
        let params = params.into_iter().map(parameter).collect();
        let rows = v4::HostConnection::query(self, c, statement, params)
            .await
            .map_err(error)?;
        let (columns, rows) = super::older_rows(
            rows,
            |name, t| v3::Column {
                name,
                data_type: data_type(t),
            },
            value,
        );
        Ok(v3::RowSet { columns, rows })
    }

    async fn execute(
        &mut self,
        c: Resource<Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> Result<u64, v3::Error> {
        let params = params.into_iter().map(parameter).collect();
        v4::HostConnection::execute(self, c, statement, params)
            .await
            .map_err(error)
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        v4::HostConnection::drop(self, c).await
    }
}
