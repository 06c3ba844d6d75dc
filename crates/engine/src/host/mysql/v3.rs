//! `spin:mysql/mysql@3.0.0`: the same connections and statements as `fermyon:spin/mysql@2.0.0`
//! through async functions; a query's rows come as a stream. Its types have 2.0.0's shapes.

use wasmtime::component::{Accessor, FutureReader, Linker, Resource, StreamReader};

use super::{Connection, MySql, MySqlView, view};
use crate::InstanceState;
use crate::host::bindings::fermyon::spin::rdbms_types as v2;
use crate::host::bindings::spin::mysql::mysql::{
    self as v3, Column, DbDataType, DbValue, Error, ParameterValue,
};

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    v3::add_to_linker::<_, MySql>(linker, view)
}

/// `$value` of enum `$from` as the variant of the same name of enum `$to`.
macro_rules! same_variant {
    ($value:expr, $from:ident => $to:ident, [$($unit:ident),*], [$($tuple:ident),*]) => {
        match $value {
            $($from::$unit => $to::$unit,)*
            $($from::$tuple(x) => $to::$tuple(x),)*
        }
    };
}

fn error(e: v2::Error) -> Error {
    use v2::Error as From;
    same_variant!(e, From => Error, [], [
        ConnectionFailed, BadParameter, QueryFailed, ValueConversionFailed, Other
    ])
}

fn parameter(p: ParameterValue) -> v2::ParameterValue {
    use v2::ParameterValue as To;
    same_variant!(p, ParameterValue => To, [DbNull], [
        Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
        Floating64, Str, Binary
    ])
}

fn value(v: v2::DbValue) -> DbValue {
    use v2::DbValue as From;
    same_variant!(v, From => DbValue, [DbNull, Unsupported], [
        Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
        Floating64, Str, Binary
    ])
}

fn column(c: v2::Column) -> Column {
    use v2::DbDataType as From;
    Column {
        name: c.name,
        data_type: same_variant!(c.data_type, From => DbDataType, [
            Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
            Floating64, Str, Binary, Other
        ], []),
    }
}

impl v3::Host for MySqlView<'_> {}

impl v3::HostConnection for MySqlView<'_> {
    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl<U> v3::HostConnectionWithStore<U> for MySql {
    async fn open(
        store: &Accessor<U, Self>,
        address: String,
    ) -> Result<Resource<Connection>, Error> {
        let policy = store.with(|mut access| access.get().policy.clone());
        let connection = super::connect(&policy, &address).await.map_err(error)?;
        store.with(|mut access| access.get().push(connection).map_err(error))
    }

    async fn query(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<
        (
            Vec<Column>,
            StreamReader<Vec<DbValue>>,
            FutureReader<Result<(), Error>>,
        ),
        Error,
    > {
        let conn = store.with(|mut access| access.get().conn(&c).map_err(error))?;
        let params = params.into_iter().map(parameter).collect();
        let rows = super::query(&conn, statement, params)
            .await
            .map_err(error)?;
        let columns = rows.columns.into_iter().map(column).collect();
        let rows: Vec<Vec<DbValue>> = rows
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value).collect())
            .collect();
        store.with(|mut access| {
            let (stream, done) = crate::host::streams::rows_and_done(&mut access, rows)
                .map_err(|e| Error::Other(e.to_string()))?;
            Ok((columns, stream, done))
        })
    }

    async fn execute(
        store: &Accessor<U, Self>,
        c: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<(), Error> {
        let conn = store.with(|mut access| access.get().conn(&c).map_err(error))?;
        let params = params.into_iter().map(parameter).collect();
        super::execute(&conn, statement, params)
            .await
            .map_err(error)
    }
}
