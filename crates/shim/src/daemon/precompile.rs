//! Machine code for an image's Wasm layers, compiled once per node and kept in containerd's
//! content store. The compiled blob is referenced from the Wasm layer's labels as a GC
//! reference, so it lives as long as the image and is collected with it.
//!
//! Pods of a new image often start together: a file lock per layer makes one shim compile
//! while the others wait and then read what it stored.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result};
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::leases_client::LeasesClient;
use containerd_client::services::v1::{
    CreateRequest, DeleteRequest, Info, InfoRequest, UpdateRequest, WriteAction,
    WriteContentRequest,
};
use containerd_client::tonic::Request;
use containerd_client::with_namespace;
use sha2::{Digest, Sha256};

use crate::compile;
use crate::daemon::content::Store;
use crate::daemon::exits::Exits;

const LOCK_DIR: &str = "/run/containerd-shim-spin/locks";
/// gRPC messages are limited to 4 MiB; compiled code goes in pieces.
const CHUNK: usize = 1 << 20;

/// The label naming the machine code of the Wasm with digest `wasm` for engines like ours; a GC
/// reference, so the labelled blob keeps the machine code alive.
fn label(wasm: &str, exit_of: compile::ExitOf) -> Result<String> {
    static ENGINE: OnceLock<u64> = OnceLock::new();
    let engine = match ENGINE.get() {
        Some(key) => *key,
        None => {
            let key = compile::engine_key(exit_of)?;
            *ENGINE.get_or_init(|| key)
        }
    };
    let hex = wasm.trim_start_matches("sha256:");
    Ok(format!(
        "containerd.io/gc.ref.content.spinrt.precompiled.{engine:016x}.{}",
        &hex[..hex.len().min(32)]
    ))
}

pub fn is_wasm(media_type: &str) -> bool {
    use spinrt_oci::media_types::{WASM_LAYER, WASM_LAYER_WKG};
    media_type == WASM_LAYER || media_type == WASM_LAYER_WKG
}

/// Where the machine code of a Wasm layer is.
pub enum MachineCode {
    /// A file of containerd's content store.
    File(std::path::PathBuf),
    Bytes(Vec<u8>),
}

/// The machine code of the Wasm with digest `wasm_digest`, from the content store, compiled
/// and stored there first when no shim did that yet; `wasm` gives the Wasm, asked for only
/// then (an image's Wasm can be tens of MB, read and hashed for nothing once its code exists).
/// The blob `owner` (the Wasm layer, or the image of a plain image) carries the label that
/// finds it and keeps it alive.
pub fn machine_code(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    owner: &str,
    name: &str,
    wasm_digest: &str,
    wasm: impl FnOnce() -> Result<Vec<u8>>,
    exits: &Exits,
) -> Result<MachineCode> {
    let exit_of = |pid| exits.exit_code(pid);
    let label = label(wasm_digest, &exit_of)?;
    if let Some(code) = rt.block_on(stored(store, owner, &label))? {
        log::info!("Wasm {wasm_digest}: machine code from the content store");
        return Ok(code);
    }
    std::fs::create_dir_all(LOCK_DIR).with_context(|| format!("creating {LOCK_DIR}"))?;
    let lock_path = Path::new(LOCK_DIR).join(wasm_digest.replace(':', "-"));
    let file = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    let _lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}", lock_path.display()))?;
    // Another shim may have compiled it while this one waited.
    if let Some(code) = rt.block_on(stored(store, owner, &label))? {
        log::info!("Wasm {wasm_digest}: machine code from the content store");
        return Ok(code);
    }
    let started = Instant::now();
    let code = compile::machine_code(name, &wasm()?, &exit_of)?;
    log::info!(
        "Wasm {wasm_digest}: precompiled in {} ms by a confined compiler process",
        started.elapsed().as_millis()
    );
    let digest = rt.block_on(store_code(store, owner, &label, &code))?;
    Ok(match rt.block_on(store.blob_path(&digest)) {
        Some(path) => MachineCode::File(path),
        None => MachineCode::Bytes(code),
    })
}

async fn info(store: &Store, digest: &str) -> Result<Info> {
    ContentClient::new(store.channel.clone())
        .info(with_namespace!(
            InfoRequest {
                digest: digest.to_string()
            },
            store.namespace
        ))
        .await
        .map_err(Store::error(format!("content info {digest}")))?
        .into_inner()
        .info
        .with_context(|| format!("containerd has no info for {digest}"))
}

async fn stored(store: &Store, digest: &str, label: &str) -> Result<Option<MachineCode>> {
    let info = info(store, digest).await?;
    let Some(compiled) = info.labels.get(label) else {
        return Ok(None);
    };
    if let Some(path) = store.blob_path(compiled).await {
        return Ok(Some(MachineCode::File(path)));
    }
    match store.read(compiled).await {
        Ok(code) => Ok(Some(MachineCode::Bytes(code))),
        Err(e) => {
            log::warn!("{digest}: its machine code {compiled} is unreadable: {e}");
            Ok(None)
        }
    }
}

/// Writes `code` into the content store under a lease (so it is not collected before it is
/// referenced), then labels the layer with it; its digest.
async fn store_code(store: &Store, digest: &str, label: &str, code: &[u8]) -> Result<String> {
    let expected = format!("sha256:{}", hex::encode(Sha256::digest(code)));
    let reference = format!("spinrt-precompile-{}-{}", digest, std::process::id());
    let mut leases = LeasesClient::new(store.channel.clone());
    let expire = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    let lease = leases
        .create(with_namespace!(
            CreateRequest {
                id: reference.clone(),
                labels: HashMap::from([(
                    "containerd.io/gc.expire".to_string(),
                    chrono::DateTime::<chrono::Utc>::from(expire).to_rfc3339(),
                )]),
            },
            store.namespace
        ))
        .await
        .map_err(Store::error("a lease"))?
        .into_inner()
        .lease
        .context("containerd created no lease")?;
    let result = write_and_label(store, &lease.id, &reference, digest, label, code, &expected)
        .await
        .map(|()| expected);
    let _ = leases
        .delete(with_namespace!(
            DeleteRequest {
                id: lease.id.clone(),
                sync: false,
            },
            store.namespace
        ))
        .await;
    result
}

async fn write_and_label(
    store: &Store,
    lease: &str,
    reference: &str,
    digest: &str,
    label: &str,
    code: &[u8],
    expected: &str,
) -> Result<()> {
    let total = code.len() as i64;
    let mut requests: Vec<WriteContentRequest> = code
        .chunks(CHUNK)
        .scan(0i64, |offset, chunk| {
            let request = WriteContentRequest {
                action: WriteAction::Write.into(),
                r#ref: reference.to_string(),
                total,
                expected: expected.to_string(),
                offset: *offset,
                data: chunk.to_vec(),
                ..Default::default()
            };
            *offset += chunk.len() as i64;
            Some(request)
        })
        .collect();
    requests.push(WriteContentRequest {
        action: WriteAction::Commit.into(),
        r#ref: reference.to_string(),
        total,
        offset: total,
        expected: expected.to_string(),
        ..Default::default()
    });
    let mut request = Request::new(futures::stream::iter(requests));
    request
        .metadata_mut()
        .insert("containerd-namespace", store.namespace.parse()?);
    request
        .metadata_mut()
        .insert("containerd-lease", lease.parse()?);
    match ContentClient::new(store.channel.clone())
        .write(request)
        .await
    {
        Ok(response) => {
            let mut stream = response.into_inner();
            while stream
                .message()
                .await
                .map_err(Store::error(format!("writing {expected}")))?
                .is_some()
            {}
        }
        // Stored already (by another shim whose label update this one will repeat).
        Err(e) if e.code() == containerd_client::tonic::Code::AlreadyExists => {}
        Err(e) => return Err(Store::error(format!("writing {expected}"))(e).into()),
    }
    let mut info = info(store, digest).await?;
    info.labels.insert(label.to_string(), expected.to_string());
    let mut update = UpdateRequest {
        info: Some(info),
        update_mask: Some(Default::default()),
    };
    if let Some(mask) = update.update_mask.as_mut() {
        mask.paths = vec![format!("labels.{label}")];
    }
    ContentClient::new(store.channel.clone())
        .update(with_namespace!(update, store.namespace))
        .await
        .map_err(Store::error(format!("labelling {digest}")))?;
    log::info!("{digest}: machine code stored as {expected}");
    Ok(())
}
