//! `spin:key-value/key-value@3.0.0`: the same stores as @2.0.0 through async functions; the
//! keys come as a stream.

use wasmtime::component::{Accessor, FutureReader, Linker, Resource, StreamReader};

use super::{KeyValue, KeyValueView, Store, view};
use crate::InstanceState;
use crate::host::bindings::fermyon::spin::key_value::Error as V2Error;
use crate::host::bindings::spin::key_value::key_value::{self as v3, Error};

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    v3::add_to_linker::<_, KeyValue>(linker, view)
}

fn error(e: V2Error) -> Error {
    match e {
        V2Error::StoreTableFull => Error::StoreTableFull,
        V2Error::NoSuchStore => Error::NoSuchStore,
        V2Error::AccessDenied => Error::AccessDenied,
        V2Error::Other(e) => Error::Other(e),
    }
}

impl v3::Host for KeyValueView<'_> {}

impl v3::HostStore for KeyValueView<'_> {
    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

/// Each call takes the store out of the instance's table, then does its I/O without holding
/// the instance's state.
impl<U> v3::HostStoreWithStore<U> for KeyValue {
    async fn open(store: &Accessor<U, Self>, label: String) -> Result<Resource<Store>, Error> {
        store.with(|mut access| access.get().open_label(label).map_err(error))
    }

    async fn get(
        store: &Accessor<U, Self>,
        kv: Resource<Store>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        let kv = store.with(|mut access| access.get().store(&kv).map_err(error))?;
        kv.get(key).await.map_err(error)
    }

    async fn set(
        store: &Accessor<U, Self>,
        kv: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let kv = store.with(|mut access| access.get().store(&kv).map_err(error))?;
        kv.set(key, value).await.map_err(error)
    }

    async fn delete(
        store: &Accessor<U, Self>,
        kv: Resource<Store>,
        key: String,
    ) -> Result<(), Error> {
        let kv = store.with(|mut access| access.get().store(&kv).map_err(error))?;
        kv.delete(key).await.map_err(error)
    }

    async fn exists(
        store: &Accessor<U, Self>,
        kv: Resource<Store>,
        key: String,
    ) -> Result<bool, Error> {
        let kv = store.with(|mut access| access.get().store(&kv).map_err(error))?;
        kv.exists(key).await.map_err(error)
    }

    async fn get_keys(
        store: &Accessor<U, Self>,
        kv: Resource<Store>,
    ) -> (StreamReader<String>, FutureReader<Result<(), Error>>) {
        let keys = match store.with(|mut access| access.get().store(&kv)) {
            Ok(kv) => kv.keys().await,
            Err(e) => Err(e),
        };
        store.with(|mut access| {
            let (keys, result) = match keys {
                Ok(keys) => (keys, Ok(())),
                Err(e) => (Vec::new(), Err(error(e))),
            };
            crate::host::streams::items_then(&mut access, keys, result)
                .expect("the resource table has room for the keys' stream")
        })
    }
}
