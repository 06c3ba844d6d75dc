use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

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
    max_memory_size: usize,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// Whether a component had to be compiled or came from the precompile cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadOutcome {
    Compiled,
    Cached,
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
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(wasmtime.weak(), config.epoch_tick, stop_ticker.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                wasmtime,
                cache,
                compiled: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                max_memory_size: config.pooling.max_memory_size,
                stop_ticker,
            }),
        })
    }

    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.wasmtime
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
        if let Some(cache) = &self.inner.cache
            && let Some(component) = cache.get(&self.inner.wasmtime, &key)
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
            && let Err(e) = cache.put(&key, &component)
        {
            log::warn!("component '{id}': cannot store it in the precompile cache: {e}");
        }
        Ok((component, LoadOutcome::Compiled))
    }
}

fn wasmtime_config(config: &EngineConfig) -> wasmtime::Config {
    let limits = &config.pooling;
    let n = limits.total_component_instances;
    let mut pooling = wasmtime::PoolingAllocationConfig::new();
    pooling
        .total_component_instances(n)
        // A componentized module plus its WASI adapter is a handful of core instances,
        // memories and tables; leave room for larger compositions.
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_memory_size(limits.max_memory_size)
        .linear_memory_keep_resident(limits.memory_keep_resident)
        .table_keep_resident(limits.table_keep_resident);
    let mut c = wasmtime::Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling));
    c
}

/// Advances the epoch so running guests reach a yield point; stops when the engine is dropped.
fn spawn_epoch_ticker(
    engine: wasmtime::EngineWeak,
    tick: std::time::Duration,
    stop: Arc<AtomicBool>,
) {
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("spawning the epoch thread");
}
