//! `minbert adapters merge`: PEFT's `add_weighted_adapter` on adapter directories, writing a new
//! PEFT adapter directory (no model needed): burn-peft's `MergeInputs`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn_peft::{Combination, MajoritySign, MergeInputs, WeightedMerge};
use clap::{Args, Subcommand};

use crate::out_dir::{OutDir, OverwriteArg};

#[derive(Args, Debug)]
pub struct AdaptersArgs {
    #[command(subcommand)]
    pub command: AdaptersCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdaptersCommand {
    /// Combine PEFT LoRA adapters of one base model into one (PEFT's add_weighted_adapter).
    Merge(MergeArgs),
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// A PEFT adapter directory; give two or more, in order.
    #[arg(long = "adapter", value_name = "DIR", required = true)]
    pub adapters: Vec<PathBuf>,
    /// One weight per adapter, comma-separated (default: 1 each).
    #[arg(long, value_name = "W,W,...", value_delimiter = ',', allow_negative_numbers = true)]
    pub weights: Vec<f64>,
    /// linear, cat, svd, ties, dare_linear, dare_ties, magnitude_prune, or one of them with _svd.
    #[arg(long, default_value = "svd", value_parser = clap::value_parser!(Combination))]
    pub combination: Combination,
    /// The fraction of values kept by ties, dare_* and magnitude_prune.
    #[arg(long)]
    pub density: Option<f64>,
    /// The rank of the *svd combinations (default: the largest input rank).
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// TIES's majority sign: total or frequency.
    #[arg(long, default_value = "total", value_parser = clap::value_parser!(MajoritySign))]
    pub majority_sign_method: MajoritySign,
    /// Seeds DARE's random masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The new adapter's directory: a new or empty folder (not an --adapter), or with
    /// --overwrite one replaced whole.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub overwrite: OverwriteArg,
}

pub fn run(args: AdaptersArgs) -> Result<()> {
    match args.command {
        AdaptersCommand::Merge(args) => merge(args),
    }
}

fn merge(args: MergeArgs) -> Result<()> {
    let out = OutDir::new("--out", &args.out, args.overwrite);
    let inputs: Vec<(&str, &Path)> = (args.adapters.iter())
        .map(|dir| ("the input --adapter", dir.as_path()))
        .collect();
    out.check(&inputs)?;
    let merge = WeightedMerge {
        combination: args.combination,
        svd_rank: args.rank,
        svd_clamp: None,
        density: args.density,
        majority_sign_method: args.majority_sign_method,
        seed: args.seed,
    };
    let adapters = MergeInputs::read(&args.adapters, &args.weights, &merge)?;
    for warning in &adapters.warnings {
        eprintln!("warning: {warning}");
    }
    let merged = adapters.merge(&merge)?;
    out.replace(&inputs, |tmp| Ok(merged.write(tmp)?))?;
    println!(
        "merged {} adapters ({}, weights {:?}) into {}: r {}, {} modules",
        adapters.adapters.len(),
        args.combination,
        adapters.weights,
        args.out.display(),
        merged.config.r,
        merged.modules.len()
    );
    Ok(())
}
