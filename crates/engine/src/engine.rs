use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::epoch::{EpochTicker, GuestRunning};
use crate::{EngineConfig, EngineError, PrecompileCache, componentize};

/// One wasmtime engine per process, shared by every app and request.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    wasmtime: wasmtime::Engine,
    cache: Option<PrecompileCache>,
    compiled: AtomicU64,
    cache_hits: AtomicU64,
    /// Components this engine already holds, by key: an app that uses the same Wasm for
    /// several components compiles or deserializes it once.
    loaded: Mutex<HashMap<String, Component>>,
    max_memory_size: usize,
    ticker: EpochTicker,
}

/// Whether a component had to be compiled or came from the precompile cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadOutcome {
    Compiled,
    Cached,
    /// This engine had already loaded the same Wasm (for another component).
    Reused,
}

/// How many components this engine compiled and how many it took from the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub compiled: u64,
    pub cache_hits: u64,
}

impl Engine {
    pub fn new(config: &EngineConfig) -> Result<Self, EngineError> {
        let wasmtime = wasmtime::Engine::new(&wasmtime_config(config))
            .map_err(|e| EngineError::Config(format!("{e:#}")))?;
        let cache = match &config.cache_dir {
            Some(dir) => match PrecompileCache::new(dir, &wasmtime) {
                Ok(cache) => Some(cache),
                Err(e) => {
                    log::warn!(
                        "precompile cache at {} is unusable, compiling every time: {e}",
                        dir.display()
                    );
                    None
                }
            },
            None => None,
        };
        if let Some(metrics) = spinrt_telemetry::metrics::get() {
            metrics.set_instance_pool_size(config.pooling.total_component_instances);
        }
        let ticker = EpochTicker::spawn(wasmtime.weak(), config.epoch_tick)
            .map_err(|e| EngineError::Config(format!("spawning the epoch thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                wasmtime,
                cache,
                compiled: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                loaded: Mutex::default(),
                max_memory_size: config.pooling.max_memory_size,
                ticker,
            }),
        })
    }

    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.wasmtime
    }

    /// Equal for engines whose compiled code is interchangeable: keys any cache of it.
    pub fn compatibility_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.inner
            .wasmtime
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        hasher.finish()
    }

    /// Keeps the epoch advancing (so the guest yields) while it lives: every store holds one.
    pub fn guest_running(&self) -> GuestRunning {
        self.inner.ticker.guest_running()
    }

    /// The largest linear memory one instance may have.
    pub fn max_memory_size(&self) -> usize {
        self.inner.max_memory_size
    }

    pub fn stats(&self) -> LoadStats {
        LoadStats {
            compiled: self.inner.compiled.load(Ordering::Relaxed),
            cache_hits: self.inner.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// Turns Wasm bytes (a component, or a core module to componentize) into a compiled
    /// component, through the precompile cache.
    pub fn load_component(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<(Component, LoadOutcome), EngineError> {
        let key = hex::encode(Sha256::digest(bytes));
        if let Some(component) = self.inner.loaded.lock().expect("not poisoned").get(&key) {
            log::info!("component '{id}': same Wasm as an already loaded component (sha256:{key})");
            return Ok((component.clone(), LoadOutcome::Reused));
        }
        let (component, outcome) = self.load_uncached(id, &key, bytes)?;
        self.inner
            .loaded
            .lock()
            .expect("not poisoned")
            .insert(key, component.clone());
        Ok((component, outcome))
    }

    /// Compiles Wasm (componentizing a core module) into this engine's serialized machine code,
    /// for a cache outside the engine (containerd's content store).
    pub fn precompile(&self, id: &str, bytes: &[u8]) -> Result<Vec<u8>, EngineError> {
        let start = Instant::now();
        let wasm = componentize::componentize(bytes).map_err(|e| EngineError::component(id, e))?;
        let compiled = self
            .inner
            .wasmtime
            .precompile_component(&wasm)
            .map_err(|e| EngineError::component(id, format!("invalid component: {e:#}")))?;
        self.inner.compiled.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "component '{id}': precompiled in {} ms",
            start.elapsed().as_millis()
        );
        Ok(compiled)
    }

    /// Loads what [`Engine::precompile`] produced, from a file it maps rather than copies:
    /// processes that load the same file share one copy of the machine code in the page cache.
    ///
    /// The caller vouches that the file came from `precompile` of an engine with the same
    /// compatibility hash (wasmtime checks the hash, not the code), and that nothing changes it
    /// while it is mapped: never pass user content.
    pub fn load_precompiled_file(
        &self,
        id: &str,
        path: &std::path::Path,
    ) -> Result<Component, EngineError> {
        let what = path.display();
        match wasmtime::Engine::detect_precompiled_file(path) {
            Ok(Some(wasmtime::Precompiled::Component)) => {}
            Ok(_) => {
                return Err(EngineError::component(
                    id,
                    format!("{what} is not a compiled component"),
                ));
            }
            Err(e) => {
                return Err(EngineError::component(
                    id,
                    format!("cannot read {what}: {e:#}"),
                ));
            }
        }
        // SAFETY: per this function's contract, the file is our own engine's output and stays
        // as it is.
        let component = unsafe { Component::deserialize_file(&self.inner.wasmtime, path) }
            .map_err(|e| {
                EngineError::component(id, format!("cannot load precompiled {what}: {e:#}"))
            })?;
        self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        log::info!("component '{id}': loaded precompiled machine code");
        Ok(component)
    }

    fn load_uncached(
        &self,
        id: &str,
        key: &str,
        bytes: &[u8],
    ) -> Result<(Component, LoadOutcome), EngineError> {
        if let Some(cache) = &self.inner.cache
            && let Some(component) = cache.get(&self.inner.wasmtime, key)
        {
            self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
            log::info!("component '{id}': loaded from the precompile cache (sha256:{key})");
            return Ok((component, LoadOutcome::Cached));
        }
        let start = Instant::now();
        let wasm = componentize::componentize(bytes).map_err(|e| EngineError::component(id, e))?;
        let component = Component::new(&self.inner.wasmtime, &wasm)
            .map_err(|e| EngineError::component(id, format!("invalid component: {e:#}")))?;
        self.inner.compiled.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "component '{id}': compiled in {} ms (sha256:{key})",
            start.elapsed().as_millis()
        );
        if let Some(cache) = &self.inner.cache
            && let Err(e) = cache.put(key, &component)
        {
            log::warn!("component '{id}': cannot store it in the precompile cache: {e}");
        }
        Ok((component, LoadOutcome::Compiled))
    }
}

/// Opens the file the pooling allocator resets its slots through (`/proc/self/pagemap`, for the
/// `PAGEMAP_SCAN` ioctl of Linux 6.7+), which wasmtime opens once per process, on first use.
/// Returns false where the kernel lacks the ioctl or `/proc` is not there.
///
/// A process about to lose its view of `/proc` (a confined server) calls this first: without
/// the file, every slot reset memsets all of the memory kept resident, which costs each request
/// time and keeps every slot ever used paged in.
pub fn open_page_map() -> bool {
    wasmtime::PoolingAllocationConfig::is_pagemap_scan_available()
}

fn wasmtime_config(config: &EngineConfig) -> wasmtime::Config {
    let limits = &config.pooling;
    let n = limits.total_component_instances;
    let mut pooling = wasmtime::PoolingAllocationConfig::new();
    pooling
        .total_component_instances(n)
        // A componentized module plus its WASI adapter is a handful of core instances; their
        // slots cost no memory up front, unlike memories' and tables'.
        .total_core_instances(n.saturating_mul(8))
        .total_memories(limits.total_memories)
        .total_tables(limits.total_tables)
        .total_stacks(n)
        .max_memory_size(limits.max_memory_size)
        .linear_memory_keep_resident(limits.memory_keep_resident)
        .table_keep_resident(limits.table_keep_resident)
        // Resetting a slot for the next request memsets the kept-resident memory; with the
        // PAGEMAP_SCAN ioctl (Linux 6.7+) only the pages the guest dirtied are reset, which
        // makes per-request instantiation cheaper. Older kernels (and a process without
        // `/proc`: see `open_page_map`) fall back to the memset.
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut c = wasmtime::Config::new();
    // Component-model async: WASI 0.3 components (spin-sdk 7 and later) use its `stream`,
    // `future` and async lifts; 0.2 components are compiled and run as before.
    c.wasm_component_model(true)
        .wasm_component_model_async(true)
        .epoch_interruption(true)
        .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling));
    c
}
