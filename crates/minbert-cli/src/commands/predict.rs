//! `minbert predict`: the course's prediction files of a checkpoint.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use minbert_eval::predictions::write_outputs;

use crate::out_dir::{OutDir, OverwriteArg};
use crate::scoring::{Scorer, ScoringArgs, SplitArg, print_notes, warn_missing};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A checkpoint directory: a run's best/ or last/, or a released checkpoint.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The split to predict.
    #[arg(long, value_enum)]
    pub split: SplitArg,
    /// Where the files go (sst-<split>-output.csv, para-..., sts-...): a new or empty folder,
    /// or with --overwrite one replaced whole.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub overwrite: OverwriteArg,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

pub fn run(args: PredictArgs) -> Result<()> {
    // Before any scoring: an output folder that is refused would waste all of it.
    let out_dir = OutDir::new("--out-dir", &args.out_dir, args.overwrite);
    let inputs = [("the input --checkpoint", args.checkpoint.as_path())];
    out_dir.check(&inputs)?;
    let scorer = Scorer::new(args.scoring)?;
    let checkpoint = scorer.load(&args.checkpoint)?;
    let split = args.split.split();
    // A split file that is not there (the course's Quora test file is not distributed here)
    // skips its task rather than the others.
    let (splits, missing) = scorer.read_splits(&checkpoint, split, 0, true)?;
    print_notes(&splits);
    warn_missing(split, &missing);
    if splits.is_empty() {
        bail!("no {} file for any task of {}", split.name(), args.checkpoint.display());
    }
    let outputs = scorer.outputs(
        &checkpoint,
        &splits,
        &format!("{} {}", args.checkpoint.display(), split.name()),
    );
    out_dir.check(&inputs)?;
    for path in write_outputs(&args.out_dir, split.name(), &outputs)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
