//! Where the model lives: `--model`, then `MINBERT_MODEL`, then `models/all-MiniLM-L6-v2` in
//! the project, then `../shared/models/all-MiniLM-L6-v2` beside it.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Hugging Face BERT checkpoint directory (config.json, model.safetensors, tokenizer.json
    /// or vocab.txt) [default: models/all-MiniLM-L6-v2, else ../shared/models/all-MiniLM-L6-v2]
    #[arg(long, env = "MINBERT_MODEL", value_name = "DIR")]
    pub model: Option<PathBuf>,
}

impl ModelArgs {
    pub fn resolve(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.model {
            if !dir.is_dir() {
                bail!("model directory {} does not exist (from --model or MINBERT_MODEL)", dir.display());
            }
            return Ok(dir.clone());
        }
        let candidates = [
            PathBuf::from("models").join(DEFAULT_MODEL),
            PathBuf::from("../shared/models").join(DEFAULT_MODEL),
        ];
        match candidates.iter().find(|dir| dir.join("config.json").is_file()) {
            Some(dir) => Ok(dir.clone()),
            None => bail!(
                "no model found: looked in {} and {}; pass --model DIR or set MINBERT_MODEL \
                 (scripts/fetch-model.sh installs the default model)",
                candidates[0].display(),
                candidates[1].display()
            ),
        }
    }
}
