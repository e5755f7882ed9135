//! `--adapter DIR`: a PEFT adapter directory applied to the model after loading.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn_peft::LoadedAdapter;
use clap::Args;
use minbert_model::BertModel;

#[derive(Args, Debug, Clone)]
pub struct AdapterArgs {
    /// PEFT adapter directory (adapter_config.json, adapter_model.safetensors) to apply to the
    /// model.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
}

impl AdapterArgs {
    /// Applies `--adapter` to `model`, if given.
    pub fn apply(&self, model: &mut BertModel) -> Result<Option<LoadedAdapter>> {
        let load = |dir: &PathBuf| {
            LoadedAdapter::load(model, dir).with_context(|| format!("loading adapter {}", dir.display()))
        };
        self.adapter.as_ref().map(load).transpose()
    }
}
