//! Which base model a command uses: `--model` (or `MINBERT_MODEL`), a local directory or a
//! Hugging Face Hub id, else the default id; ids resolve through the Hugging Face cache.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use minbert_hub::{DEFAULT_MODEL, HubSettings, ResolvedModel};

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Base model: a Hugging Face BERT checkpoint directory (config.json, model.safetensors,
    /// tokenizer.json or vocab.txt) or a Hub id, found in or downloaded to the Hugging Face
    /// cache (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE) [default:
    /// sentence-transformers/all-MiniLM-L6-v2]
    #[arg(long, env = "MINBERT_MODEL", value_name = "ID|DIR")]
    pub model: Option<String>,
}

impl ModelArgs {
    /// The model given, else the default one.
    pub fn resolve(&self) -> Result<ResolvedModel> {
        let name = self.model.as_deref().unwrap_or(DEFAULT_MODEL);
        Ok(minbert_hub::resolve(name, Path::new("."), &HubSettings::from_env())?)
    }
}
