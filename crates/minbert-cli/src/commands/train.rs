//! `minbert train`: the multitask trainer of minbert-train, from a TOML config.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use minbert_task::files::write_json;
use minbert_train::progress::ProgressMode;
use minbert_train::{TrainConfig, TrainOptions, interrupt_on_signals, run_paths, summary_report, train};

use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The run's TOML config (see configs/); with --resume, defaults to the run's config.toml.
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Override a config key, like train.lr=1e-4 or adapter.targets=all-linear (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The run directory [default: runs/<config name>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last/ checkpoint (a run stopped before its first
    /// checkpoint starts over).
    #[arg(long)]
    pub resume: bool,
    /// With --resume: continue even though a data file changed since the run started (the
    /// current epoch then starts over on the new data).
    #[arg(long, requires = "resume")]
    pub accept_changed_data: bool,
    /// Folder with the course files; overrides data.dir [default: data.dir, else
    /// MINBERT_DATA_DIR, else data/ in the current directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Compute threads on the CPU (Burn's global rayon pool) [default: RAYON_NUM_THREADS, else
    /// every core]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Progress display: a bar on a terminal, plain lines otherwise (auto), or none.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Also write the run's summary to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The base model; overrides model.path.
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: TrainArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        crate::backend::set_compute_threads(threads)?;
    }
    let (out, config_path) = run_paths(args.out.as_deref(), args.config.as_deref())?;
    let mut config = TrainConfig::load(&config_path, &args.set)?;
    config.resolve_paths(args.model.given(), args.data_dir.as_deref())?;
    let options = TrainOptions {
        out_dir: out.clone(),
        resume: args.resume,
        device: args.device.device()?,
        progress: args.progress,
        pause_at_step: None,
        interrupt: Some(interrupt_on_signals()?),
        accept_changed_data: args.accept_changed_data,
    };
    let trained = train(&config, &options).with_context(|| format!("training run {}", out.display()))?;
    print!("{}", summary_report(&trained.summary, &out));
    if let Some(path) = &args.json {
        write_json(path, &serde_json::to_value(&trained.summary)?)?;
    }
    Ok(())
}
