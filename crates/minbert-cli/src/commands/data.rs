//! `minbert data stats`: per task and split, the examples, skipped rows, label distribution and
//! token-length percentiles (minbert-data's `data_stats`, printed as its table).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use minbert_data::{BertTokenizer, CourseOptions, CustomTask, DataDir, QuoraTrain, data_stats};

use crate::model_dir::ModelArgs;
use minbert_task::files::write_json;

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Examples, skipped rows, labels and token lengths of every split.
    Stats(StatsArgs),
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Folder with the course files [default: MINBERT_DATA_DIR, else data/ in the current
    /// directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Which Quora training file: auto (the full one where it exists, else the partial one),
    /// full or partial.
    #[arg(long, default_value = "auto", value_name = "WHICH")]
    pub quora_train: QuoraTrain,
    /// Also a custom task declared in TOML (repeatable).
    #[arg(long = "task", value_name = "TOML")]
    pub tasks: Vec<PathBuf>,
    /// Token lengths are counted up to this many tokens.
    #[arg(long, default_value_t = 512)]
    pub max_len: usize,
    /// Leave out token lengths (no model needed).
    #[arg(long)]
    pub no_tokens: bool,
    /// Also write the statistics to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: DataArgs) -> Result<()> {
    match args.command {
        DataCommand::Stats(args) => stats(args),
    }
}

fn stats(args: StatsArgs) -> Result<()> {
    let dir = DataDir::resolve(args.data_dir.as_deref())?;
    let tokenizer = if args.no_tokens {
        None
    } else {
        let model = args.model.resolve()?.dir;
        Some(BertTokenizer::from_dir(&model)?.with_max_len(args.max_len)?)
    };
    let custom = args
        .tasks
        .iter()
        .map(|path| CustomTask::from_toml_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let options = CourseOptions {
        quora_train: args.quora_train,
        ..CourseOptions::default()
    };
    let stats = data_stats(&dir, &options, &custom, tokenizer.as_ref())?;
    print!("{stats}");
    if let Some(path) = &args.json {
        let value = serde_json::to_value(&stats)?;
        write_json(path, &value).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
