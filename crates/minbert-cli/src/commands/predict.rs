//! `minbert predict`: the course's prediction files of a checkpoint.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use minbert_data::Split;

use crate::out_dir::{OutDir, OverwriteArg};
use crate::scoring::{ScoringArgs, split_parser};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A checkpoint directory: a run's best/ or last/, or a released checkpoint.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The split to predict.
    #[arg(long, value_parser = split_parser())]
    pub split: Split,
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
    let predictions = minbert_eval::predict(args.scoring.options()?, &args.checkpoint, args.split)?;
    out_dir.check(&inputs)?;
    for path in predictions.write(&args.out_dir)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
