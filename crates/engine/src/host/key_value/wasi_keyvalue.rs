//! `wasi:keyvalue` (draft 2024-10-17, `store` and `batch`): the same stores under the WASI
//! names Spin 3 offers. A bucket identifier is a store label, granted as for Spin's own
//! interface; listing returns every key at once (no cursor).

use wasmtime::component::Resource;

use super::{KeyValueView, Store};
use crate::host::bindings::fermyon::spin::key_value::Error as SpinError;
use crate::host::bindings::wasi::keyvalue::{batch, store};

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
