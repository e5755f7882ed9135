//! The flags of `eval`, `predict` and `ensemble`, as `minbert_eval`'s scoring options.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use minbert_data::Split;
use minbert_eval::scoring::{self, GivenBase, ScoringOptions};
use minbert_task::checkpoint::ChosenBase;

use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;

/// How checkpoints are scored: the data, batch size, threads, base model and device.
#[derive(Args, Debug, Clone)]
pub struct ScoringArgs {
    /// Folder with the course files [default: MINBERT_DATA_DIR, else data/ in the current
    /// directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Examples per batch (no gradients are kept, so this can be larger than in training).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Compute threads on the CPU [default: RAYON_NUM_THREADS, else every core]
    #[arg(long)]
    pub threads: Option<usize>,
    /// The base model the checkpoints were trained on [default: the path in their meta.json
    /// where it exists, else the default model]; its weights must match meta.json's sha256.
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl ScoringArgs {
    /// Checks the batch size, sets the compute threads and opens the device.
    pub fn options(self) -> Result<ScoringOptions> {
        scoring::check_batch_size(self.batch_size)?;
        if let Some(threads) = self.threads {
            crate::backend::set_compute_threads(threads)?;
        }
        let (device, base) = (
            self.device.device()?,
            GivenBase::from_flag_or_env(self.model.model.as_deref())?,
        );
        Ok(ScoringOptions {
            data_dir: self.data_dir,
            batch_size: self.batch_size,
            device,
            base,
        })
    }
}

/// `--split`'s values: the course's splits by name.
pub fn split_parser() -> impl TypedValueParser<Value = Split> {
    let by_name = |name: String| {
        Split::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .expect("a possible value")
    };
    PossibleValuesParser::new(Split::ALL.map(Split::name)).map(by_name)
}

/// The base model to load the checkpoint in `dir` on, other than the recorded one.
pub fn checkpoint_base(model: &ModelArgs, dir: &Path) -> Result<Option<ChosenBase>> {
    Ok(scoring::checkpoint_base(
        GivenBase::from_flag_or_env(model.model.as_deref())?.as_ref(),
        dir,
    )?)
}
