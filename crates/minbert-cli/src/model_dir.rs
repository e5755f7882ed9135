//! Which base model a command uses: `--model` (or `MINBERT_MODEL`), a local directory or a
//! Hugging Face Hub id, else the default id (minbert-hub's `given_model` and `resolve_given`).

use anyhow::Result;
use clap::Args;
use minbert_hub::{ModelOrigin, ResolvedModel};

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Base model: a Hugging Face BERT checkpoint directory (config.json, model.safetensors,
    /// tokenizer.json or vocab.txt) or a Hub id, found in or downloaded to the Hugging Face
    /// cache (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE) [default:
    /// sentence-transformers/all-MiniLM-L6-v2] [env: MINBERT_MODEL=]
    #[arg(long, value_name = "ID|DIR")]
    pub model: Option<String>,
}

impl ModelArgs {
    /// The model named by `--model`, else by `MINBERT_MODEL`, with where it was named.
    pub fn given(&self) -> Option<(String, ModelOrigin)> {
        minbert_hub::given_model(self.model.as_deref())
    }

    /// The model given, else the default one.
    pub fn resolve(&self) -> Result<ResolvedModel> {
        Ok(minbert_hub::resolve_given(self.model.as_deref())?)
    }
}
