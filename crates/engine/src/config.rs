use std::path::PathBuf;
use std::time::Duration;

/// How the engine is set up. [`EngineConfig::from_env`] reads overrides from the environment so
/// the same knobs work for the CLI and for the shim (where env is all a pod spec can set).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where compiled components are kept; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    pub pooling: PoolingLimits,
    /// How often the epoch advances: a guest yields to other requests at least this often.
    pub epoch_tick: Duration,
}

/// Limits of the pooling allocator: every slot is reserved when the engine starts, so these
/// bound both how many instances run at once and how much address space the process takes.
#[derive(Clone, Debug)]
pub struct PoolingLimits {
    /// Instances alive at once (requests in flight, across all components).
    pub total_component_instances: u32,
    /// Linear memories alive at once (one per instance of a single-memory component). Each
    /// memory and table slot also costs the allocator 56 bytes of bookkeeping per slot (twice
    /// for memories), written when the engine starts: 4,000 tables and 2,000 memories had been
    /// 448 KiB of every server's heap.
    pub total_memories: u32,
    /// Tables alive at once (a componentized module has its own and its shims').
    pub total_tables: u32,
    /// Largest linear memory one guest may grow to: by default all a 32-bit memory can
    /// address, as Spin sets no cap unless asked (the pod's memory limit still holds).
    pub max_memory_size: usize,
    /// Linear memory kept paged in when a slot is reused: avoids a decommit per request.
    pub memory_keep_resident: usize,
    /// Table memory kept paged in when a slot is reused.
    pub table_keep_resident: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cache_dir: default_cache_dir(),
            pooling: PoolingLimits::default(),
            epoch_tick: Duration::from_millis(10),
        }
    }
}

/// A 32-bit linear memory's whole range: the pooling allocator reserves this much address
/// space per memory slot anyway, so the default cap costs nothing.
pub const NO_MEMORY_CAP: usize = 4 << 30;

/// SpinKube's per-instance memory cap (bytes), honoured beside our own variable.
const SPINKUBE_MAX_MEMORY: &str = "SPIN_MAX_INSTANCE_MEMORY";
const MAX_MEMORY: &str = "SPIN_WASMTIME_MAX_MEMORY_SIZE";

impl Default for PoolingLimits {
    fn default() -> Self {
        Self {
            // Spin's defaults (spin-core): 1,000 instances, memories and stacks, 2,000 tables.
            total_component_instances: 1000,
            total_memories: 1000,
            total_tables: 2000,
            max_memory_size: NO_MEMORY_CAP,
            memory_keep_resident: 16 << 20,
            table_keep_resident: 1 << 20,
        }
    }
}

impl EngineConfig {
    /// Defaults, overridden by `SPIN_WASMTIME_INSTANCE_COUNT` (memories and tables follow it,
    /// one and two per instance, unless `SPIN_WASMTIME_TOTAL_MEMORIES` or
    /// `SPIN_WASMTIME_TOTAL_TABLES` say otherwise, as Spin reads them),
    /// `SPIN_WASMTIME_MAX_MEMORY_SIZE` or SpinKube's `SPIN_MAX_INSTANCE_MEMORY` (bytes; the
    /// smaller when both are set) and `SPIN_PRECOMPILE_CACHE_DIR` where set.
    pub fn from_env() -> Result<Self, crate::EngineError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`EngineConfig::from_env`], with variables from `lookup` (a container's environment
    /// is the task's, not the process's).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::EngineError> {
        let number = |name: &str| -> Result<Option<u64>, crate::EngineError> {
            lookup(name)
                .map(|v| {
                    v.parse().map_err(|_| {
                        crate::EngineError::Config(format!("{name}={v} is not a whole number"))
                    })
                })
                .transpose()
        };
        let mut config = Self::default();
        if let Some(n) = number("SPIN_WASMTIME_INSTANCE_COUNT")? {
            let n = n as u32;
            config.pooling.total_component_instances = n;
            config.pooling.total_memories = n;
            config.pooling.total_tables = n.saturating_mul(2);
        }
        if let Some(n) = number("SPIN_WASMTIME_TOTAL_MEMORIES")? {
            config.pooling.total_memories = n as u32;
        }
        if let Some(n) = number("SPIN_WASMTIME_TOTAL_TABLES")? {
            config.pooling.total_tables = n as u32;
        }
        for name in [MAX_MEMORY, SPINKUBE_MAX_MEMORY] {
            if let Some(n) = number(name)? {
                config.pooling.max_memory_size = config.pooling.max_memory_size.min(n as usize);
            }
        }
        if let Some(dir) = lookup("SPIN_PRECOMPILE_CACHE_DIR") {
            config.cache_dir = Some(dir.into());
        }
        Ok(config)
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("spinrt").join("precompiled"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration `vars` give.
    fn config(vars: &[(&str, &str)]) -> EngineConfig {
        EngineConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    fn max_memory(vars: &[(&str, &str)]) -> usize {
        config(vars).pooling.max_memory_size
    }

    fn pooling(vars: &[(&str, &str)]) -> (u32, u32, u32) {
        let p = config(vars).pooling;
        (
            p.total_component_instances,
            p.total_memories,
            p.total_tables,
        )
    }

    #[test]
    fn pool_sizes_are_spins_and_follow_the_instance_count_unless_set() {
        assert_eq!(pooling(&[]), (1000, 1000, 2000));
        assert_eq!(
            pooling(&[("SPIN_WASMTIME_INSTANCE_COUNT", "100")]),
            (100, 100, 200)
        );
        assert_eq!(
            pooling(&[
                ("SPIN_WASMTIME_INSTANCE_COUNT", "100"),
                ("SPIN_WASMTIME_TOTAL_MEMORIES", "3200"),
                ("SPIN_WASMTIME_TOTAL_TABLES", "50"),
            ]),
            (100, 3200, 50)
        );
        assert!(
            EngineConfig::from_lookup(|n| (n == "SPIN_WASMTIME_TOTAL_TABLES").then(|| "x".into()))
                .is_err()
        );
    }

    #[test]
    fn guest_memory_is_uncapped_unless_asked_and_the_smaller_cap_wins() {
        assert_eq!(max_memory(&[]), 4 << 30);
        assert_eq!(max_memory(&[(MAX_MEMORY, "1048576")]), 1 << 20);
        assert_eq!(max_memory(&[(SPINKUBE_MAX_MEMORY, "2097152")]), 2 << 20);
        assert_eq!(
            max_memory(&[(MAX_MEMORY, "4194304"), (SPINKUBE_MAX_MEMORY, "2097152")]),
            2 << 20
        );
        assert!(EngineConfig::from_lookup(|_| Some("lots".into())).is_err());
    }
}
