//! `minbert eval`: the course's scores of a checkpoint on dev (or train).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use minbert_data::Split;
use minbert_eval::evaluate::{check_scorable, evaluate};

use crate::scoring::{ScoringArgs, split_parser};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint directory: a run's best/ or last/, or a released checkpoint.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The split to score; test has no labels (see `minbert predict`).
    #[arg(long, value_parser = split_parser(), default_value = "dev")]
    pub split: Split,
    /// Score a seeded sample of N examples per task: the same sample the trainer scores with
    /// data.dev_subset = N (0: every example).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub subset: usize,
    /// Also write the scores to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

pub fn run(args: EvalArgs) -> Result<()> {
    check_scorable(args.split)?;
    let evaluation = evaluate(args.scoring.options()?, &args.checkpoint, args.split, args.subset)?;
    println!("{}", evaluation.heading());
    print!("{}", evaluation.table());
    if let Some(path) = &args.json {
        evaluation.write_json(path)?;
    }
    Ok(())
}
