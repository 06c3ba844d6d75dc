//! Spin 1's `fermyon:spin/llm`: no Serverless AI here either; every model is not granted.

use super::bindings::fermyon::spin::llm::{
    self, EmbeddingsResult, Error, InferencingParams, InferencingResult,
};
use crate::host::llm::{NoModels, not_granted_text};

impl llm::Host for NoModels {
    async fn infer(
        &mut self,
        model: String,
        _prompt: String,
        _params: Option<InferencingParams>,
    ) -> Result<InferencingResult, Error> {
        Err(Error::InvalidInput(not_granted_text(&model)))
    }

    async fn generate_embeddings(
        &mut self,
        model: String,
        _text: Vec<String>,
    ) -> Result<EmbeddingsResult, Error> {
        Err(Error::InvalidInput(not_granted_text(&model)))
    }
}
