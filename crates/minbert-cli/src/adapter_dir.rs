//! `--adapter DIR`: a PEFT adapter directory (`adapter_config.json`,
//! `adapter_model.safetensors`, as Hugging Face PEFT or `minbert train` writes it) applied to
//! the model after loading.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn_peft::LoraConfig;
use clap::Args;
use minbert_model::BertModel;

#[derive(Args, Debug, Clone)]
pub struct AdapterArgs {
    /// PEFT adapter directory (adapter_config.json, adapter_model.safetensors) to apply to the
    /// model.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
}

/// An adapter loaded onto the model: its config and the module paths it adapts.
pub struct LoadedAdapter {
    pub dir: PathBuf,
    pub config: LoraConfig,
    pub paths: Vec<String>,
}

impl LoadedAdapter {
    /// One line: kind, rank, alpha, scaling, module count.
    pub fn summary(&self) -> String {
        let c = &self.config;
        let kind = match (c.use_dora, c.use_rslora) {
            (true, true) => "DoRA (rsLoRA scaling)",
            (true, false) => "DoRA",
            (false, true) => "rsLoRA",
            (false, false) => "LoRA",
        };
        format!(
            "{kind}, r {}, alpha {}, scaling {}, dropout {}, {} modules",
            c.r,
            c.lora_alpha,
            c.scaling(),
            c.lora_dropout,
            self.paths.len()
        )
    }
}

impl AdapterArgs {
    /// Applies `--adapter` to `model`, if given.
    pub fn apply(&self, model: &mut BertModel) -> Result<Option<LoadedAdapter>> {
        self.adapter.as_deref().map(|dir| apply(model, dir)).transpose()
    }
}

pub fn apply(model: &mut BertModel, dir: &Path) -> Result<LoadedAdapter> {
    let (config, paths) =
        burn_peft::load_adapter(model, dir).with_context(|| format!("loading adapter {}", dir.display()))?;
    Ok(LoadedAdapter {
        dir: dir.to_path_buf(),
        config,
        paths,
    })
}
