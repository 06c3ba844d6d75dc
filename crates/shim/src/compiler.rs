//! Precompilation through runwasi: the first task of an image compiles its Wasm layers in the
//! shim; runwasi stores the machine code in containerd's content store (labelled with our cache
//! key, garbage-collected with the image) and hands it to every later task instead.

use std::hash::Hash;

use anyhow::Result;
use containerd_shim_wasm::sandbox::context::WasmLayer;
use containerd_shim_wasm::shim::Compiler;
use spinrt_engine::{Engine, EngineConfig, PoolingLimits};
use spinrt_oci::media_types::{WASM_LAYER, WASM_LAYER_WKG};

pub struct SpinCompiler {
    engine: Engine,
}

impl SpinCompiler {
    pub fn new() -> Option<Self> {
        // Same code generation settings as a task's engine; one pooled slot is enough to compile.
        let config = EngineConfig {
            cache_dir: None,
            pooling: PoolingLimits {
                total_component_instances: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        match Engine::new(&config) {
            Ok(engine) => Some(Self { engine }),
            Err(e) => {
                log::warn!("no precompilation: {e}");
                None
            }
        }
    }
}

impl Compiler for SpinCompiler {
    fn cache_key(&self) -> impl Hash {
        self.engine.compatibility_key()
    }

    async fn compile(&self, layers: &[WasmLayer]) -> Result<Vec<Option<Vec<u8>>>> {
        layers
            .iter()
            .map(|layer| {
                let media_type = layer.config.media_type().to_string();
                if media_type == WASM_LAYER || media_type == WASM_LAYER_WKG {
                    let digest = layer.config.digest().to_string();
                    Ok(Some(self.engine.precompile(&digest, &layer.layer)?))
                } else {
                    // runwasi marks an image compiled only when every layer it hands us has a
                    // compiled form; for the locked app and files that form is the layer itself.
                    Ok(Some(layer.layer.clone()))
                }
            })
            .collect()
    }
}
