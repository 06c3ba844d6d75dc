//! `wasi:keyvalue` (draft 2024-10-17, `store`, `batch`, `atomics`): the same stores under the
//! WASI names Spin 3 offers. A bucket identifier is a store label, granted as for Spin's own
//! interface; listing returns every key at once (no cursor). `increment` keeps integers as
//! decimal text (as Redis does); compare-and-swap compares with the value read when the `cas`
//! was made, and a failed swap hands the guest a `cas` holding the value found instead.

use wasmtime::component::Resource;

use super::{KeyValueView, Store, TracedKv};
use crate::host::bindings::fermyon::spin::key_value::Error as SpinError;
use crate::host::bindings::wasi::keyvalue::{atomics, batch, store};

/// A compare-and-swap in progress: the key and the value it was read with.
pub struct Cas {
    store: TracedKv,
    key: String,
    current: Option<Vec<u8>>,
}

fn error(e: SpinError) -> store::Error {
    match e {
        SpinError::AccessDenied => store::Error::AccessDenied,
        SpinError::NoSuchStore => store::Error::NoSuchStore,
        SpinError::StoreTableFull => store::Error::Other("too many open buckets".into()),
        SpinError::Other(e) => store::Error::Other(e),
    }
}

impl store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Store>, store::Error> {
        self.open_label(identifier).map_err(error)
    }
}

impl store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Store>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        self.store(&bucket)
            .map_err(error)?
            .get(key)
            .await
            .map_err(error)
    }

    async fn set(
        &mut self,
        bucket: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        let store = self.store(&bucket).map_err(error)?;
        store.set(key, value).await.map_err(error)
    }

    async fn delete(&mut self, bucket: Resource<Store>, key: String) -> Result<(), store::Error> {
        let store = self.store(&bucket).map_err(error)?;
        store.delete(key).await.map_err(error)
    }

    async fn exists(&mut self, bucket: Resource<Store>, key: String) -> Result<bool, store::Error> {
        let store = self.store(&bucket).map_err(error)?;
        store.exists(key).await.map_err(error)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Store>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, store::Error> {
        if cursor.is_some() {
            return Err(store::Error::Other(
                "list-keys: cursors are not supported (the first page holds every key)".into(),
            ));
        }
        let store = self.store(&bucket).map_err(error)?;
        Ok(store::KeyResponse {
            keys: store.keys().await.map_err(error)?,
            cursor: None,
        })
    }

    async fn drop(&mut self, bucket: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Store>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        let store = self.store(&bucket).map_err(error)?;
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            let value = store.get(key.clone()).await.map_err(error)?;
            found.push((key, value));
        }
        Ok(found)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Store>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        let store = self.store(&bucket).map_err(error)?;
        for (key, value) in key_values {
            store.set(key, value).await.map_err(error)?;
        }
        Ok(())
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Store>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        let store = self.store(&bucket).map_err(error)?;
        for key in keys {
            store.delete(key).await.map_err(error)?;
        }
        Ok(())
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Store>,
        key: String,
    ) -> Result<Resource<Cas>, store::Error> {
        let store = self.store(&bucket).map_err(error)?;
        let current = store.get(key.clone()).await.map_err(error)?;
        self.table
            .push(Cas {
                store,
                key,
                current,
            })
            .map_err(|e| store::Error::Other(e.to_string()))
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, store::Error> {
        let cas = self
            .table
            .get(&cas)
            .map_err(|e| store::Error::Other(e.to_string()))?;
        Ok(cas.current.clone())
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Store>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        let store = self.store(&bucket).map_err(error)?;
        store.increment(key, delta).await.map_err(error)
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let stored = |e: SpinError| atomics::CasError::StoreError(error(e));
        let mut cas = self
            .table
            .delete(cas)
            .map_err(|e| atomics::CasError::StoreError(store::Error::Other(e.to_string())))?;
        if cas
            .store
            .swap_if(&cas.key, cas.current.as_deref(), &value)
            .await
            .map_err(stored)?
        {
            return Ok(());
        }
        cas.current = cas.store.get(cas.key.clone()).await.map_err(stored)?;
        let cas = self
            .table
            .push(cas)
            .map_err(|e| atomics::CasError::StoreError(store::Error::Other(e.to_string())))?;
        Err(atomics::CasError::CasFailed(cas))
    }
}
