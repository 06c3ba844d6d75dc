//! Spin 1's `fermyon:spin/key-value`: the same granted stores as `@2.0.0`, with stores named
//! by number instead of resource (the number is the resource's handle in the instance's
//! table, which checks its type on every use) and a missing key an error.

use wasmtime::component::Resource;

use super::bindings::fermyon::spin::key_value::{self, Error, Store as Handle};
use crate::host::bindings::fermyon::spin::key_value::{Error as StoreError, HostStore};
use crate::host::key_value::KeyValueView;

impl key_value::Host for KeyValueView<'_> {
    async fn open(&mut self, name: String) -> Result<Handle, Error> {
        let store = HostStore::open(self, name).await.map_err(legacy)?;
        Ok(store.rep())
    }

    async fn get(&mut self, store: Handle, key: String) -> Result<Vec<u8>, Error> {
        HostStore::get(self, Resource::new_borrow(store), key)
            .await
            .map_err(legacy)?
            .ok_or(Error::NoSuchKey)
    }

    async fn set(&mut self, store: Handle, key: String, value: Vec<u8>) -> Result<(), Error> {
        HostStore::set(self, Resource::new_borrow(store), key, value)
            .await
            .map_err(legacy)
    }

    async fn delete(&mut self, store: Handle, key: String) -> Result<(), Error> {
        HostStore::delete(self, Resource::new_borrow(store), key)
            .await
            .map_err(legacy)
    }

    async fn exists(&mut self, store: Handle, key: String) -> Result<bool, Error> {
        HostStore::exists(self, Resource::new_borrow(store), key)
            .await
            .map_err(legacy)
    }

    async fn get_keys(&mut self, store: Handle) -> Result<Vec<String>, Error> {
        HostStore::get_keys(self, Resource::new_borrow(store))
            .await
            .map_err(legacy)
    }

    async fn close(&mut self, store: Handle) {
        // Closing what is not an open store does nothing, as in Spin 1.
        let _ = HostStore::drop(self, Resource::new_own(store)).await;
    }
}

fn legacy(e: StoreError) -> Error {
    match e {
        StoreError::StoreTableFull => Error::StoreTableFull,
        StoreError::NoSuchStore => Error::NoSuchStore,
        StoreError::AccessDenied => Error::AccessDenied,
        StoreError::Other(m) => Error::Io(m),
    }
}
