//! `minbert ensemble`: several checkpoints combined by averaging what they predict (SST class
//! probabilities, Quora paraphrase probabilities, STS scores), scored on dev, optionally with
//! the choice of members on dev (greedy or exhaustive) and the course's prediction files.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use minbert_data::Split;
use minbert_eval::{EnsembleOptions, Ensembler, MemberSource, Metric, Selection};

use crate::out_dir::{OutDir, OverwriteArg};
use crate::scoring::{ScoringArgs, split_parser};

#[derive(Args, Debug)]
pub struct EnsembleArgs {
    /// A member's checkpoint directory (repeat for each member).
    #[arg(
        long = "checkpoint",
        value_name = "DIR",
        required_unless_present = "plan",
        conflicts_with = "plan"
    )]
    pub checkpoints: Vec<PathBuf>,
    /// Combine the members and weights per task that an earlier `--json` file recorded (its
    /// `ensemble.tasks`), e.g. a choice made on one dev subset, scored on another or predicting
    /// test; its checkpoint paths are read as written there.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["weights", "select", "per_task"])]
    pub plan: Option<PathBuf>,
    /// Weights of the members, in --checkpoint order (normalised to sum to 1) [default: equal]
    #[arg(long, value_name = "W,W,...", value_delimiter = ',')]
    pub weights: Option<Vec<f64>>,
    /// Which members to combine: all of them; `greedy`, a forward selection on dev (start with
    /// the best member, add the one that raises --metric most, while it rises); or `best`, the
    /// subset with the highest --metric on dev among all subsets (at most 16 members).
    #[arg(long, value_enum, default_value = "all")]
    pub select: Selection,
    /// The dev score that `--select greedy` and `--select best` maximise.
    #[arg(long, value_enum, default_value_t = Metric::Overall)]
    pub metric: Metric,
    /// Select each task's members on its own: SST's by sst_acc, Quora's by quora_acc and STS's
    /// by sts_pearson (instead of one set of members for all tasks by --metric).
    #[arg(long, conflicts_with = "metric")]
    pub per_task: bool,
    /// Score on a seeded sample of N dev examples per task (as data.dev_subset; 0: all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub subset: usize,
    /// Write the ensemble's prediction files for --split here: a new or empty folder, or with
    /// --overwrite one replaced whole.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub overwrite: OverwriteArg,
    /// The split of the prediction files.
    #[arg(long, value_parser = split_parser(), default_value = "dev", requires = "out_dir")]
    pub split: Split,
    /// Also write the members' and the ensemble's scores to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

pub fn run(args: EnsembleArgs) -> Result<()> {
    let members = match &args.plan {
        Some(path) => MemberSource::Plan(path.clone()),
        None => MemberSource::Checkpoints(args.checkpoints.clone()),
    };
    let ensembler = Ensembler::new(EnsembleOptions {
        members,
        weights: args.weights.clone(),
        selection: args.select,
        metric: args.metric,
        per_task: args.per_task,
        subset: args.subset,
    })?;
    // Before the slow part, and again before writing: refused if it is taken or holds a member.
    let checkpoints = ensembler.checkpoints().to_vec();
    let inputs: Vec<(&str, &Path)> = checkpoints
        .iter()
        .map(|dir| ("the member --checkpoint", dir.as_path()))
        .collect();
    let out_dir = args
        .out_dir
        .as_ref()
        .map(|dir| OutDir::new("--out-dir", dir, args.overwrite));
    if let Some(out_dir) = &out_dir {
        out_dir.check(&inputs)?;
    }
    let ensemble = ensembler.run(args.scoring.options()?)?;
    print!("{}", ensemble.table());
    if let (Some(out_dir), Some(path)) = (&out_dir, &args.out_dir) {
        let predictions = ensemble.predict(args.split)?;
        out_dir.check(&inputs)?;
        for path in predictions.write(path)? {
            println!("wrote {}", path.display());
        }
    }
    if let Some(path) = &args.json {
        ensemble.write_json(path)?;
    }
    Ok(())
}
