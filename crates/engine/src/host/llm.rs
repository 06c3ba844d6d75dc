//! `fermyon:spin/llm@2.0.0`: Serverless AI is not available in this runtime. A manifest that
//! grants `ai_models` is refused when the app loads; a component that calls the interface
//! anyway gets Spin's answer for a model it was not granted, naming what to do, rather than
//! failing to instantiate.

use wasmtime::component::{HasData, Linker};

use super::bindings::fermyon::spin::llm::{
    self, EmbeddingsResult, Error, InferencingParams, InferencingResult,
};
use crate::InstanceState;

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    llm::add_to_linker::<_, Llm>(linker, |_| NoModels)
}

pub(crate) struct Llm;

impl HasData for Llm {
    type Data<'a> = NoModels;
}

pub struct NoModels;

/// Spin's words for a model the component was not granted.
pub(crate) fn not_granted_text(model: &str) -> String {
    format!(
        "The component does not have access to use '{model}': this runtime has no Serverless AI \
         (ai_models), so no model can be granted"
    )
}

fn not_granted(model: &str) -> Error {
    Error::InvalidInput(not_granted_text(model))
}

impl llm::Host for NoModels {
    async fn infer(
        &mut self,
        model: String,
        _prompt: String,
        _params: Option<InferencingParams>,
    ) -> Result<InferencingResult, Error> {
        Err(not_granted(&model))
    }

    async fn generate_embeddings(
        &mut self,
        model: String,
        _text: Vec<String>,
    ) -> Result<EmbeddingsResult, Error> {
        Err(not_granted(&model))
    }
}
