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
    /// sentence-transformers/all-MiniLM-L6-v2] [env: MINBERT_MODEL=]
    #[arg(long, value_name = "ID|DIR")]
    pub model: Option<String>,
}

/// The environment variable that names a model where `--model` is not given.
pub const MODEL_ENV: &str = "MINBERT_MODEL";

/// Where the model a command uses was named, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelOrigin {
    Flag,
    Env,
}

impl ModelOrigin {
    pub fn name(self) -> &'static str {
        match self {
            Self::Flag => "--model",
            Self::Env => MODEL_ENV,
        }
    }
}

impl ModelArgs {
    /// The model named by `--model`, else by `MINBERT_MODEL`, with where it was named.
    pub fn given(&self) -> Option<(String, ModelOrigin)> {
        if let Some(name) = &self.model {
            return Some((name.clone(), ModelOrigin::Flag));
        }
        std::env::var(MODEL_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| (v, ModelOrigin::Env))
    }

    /// The model given, else the default one.
    pub fn resolve(&self) -> Result<ResolvedModel> {
        let name = self.given().map_or(DEFAULT_MODEL.to_string(), |(name, _)| name);
        Ok(minbert_hub::resolve(&name, Path::new("."), &HubSettings::from_env())?)
    }
}
