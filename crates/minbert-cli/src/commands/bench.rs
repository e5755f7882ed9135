//! `minbert bench`: the benchmark of docs/BENCHMARKS.md (`minbert_bench`), its summary lines and
//! its JSON (the PyTorch reference's fields).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use minbert_bench::{BenchMode, BenchOptions};
use minbert_task::Precision;
use minbert_task::files::write_json;

use crate::backend::{DeviceArgs, set_compute_threads};
use crate::model_dir::ModelArgs;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value = "infer")]
    pub mode: BenchMode,
    /// Compute dtype: f32, bf16 or f16. Training in half precision keeps f32 master weights and
    /// optimizer state (f16 adds dynamic loss scaling), as `minbert train` does.
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 64)]
    pub seq: usize,
    /// Untimed steps before the timed ones.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Compute threads (the global rayon pool that Burn's CPU backends use).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Adapter rank (lora, dora).
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    /// Adapter alpha: the scale is alpha / rank.
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f64,
    /// Adapted modules, PEFT's `target_modules` (path suffixes).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "query,key,value,attention.output.dense"
    )]
    pub targets: Vec<String>,
    /// Write the result here (the reference's JSON fields).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let options = BenchOptions {
        model_dir: args.model.resolve()?.dir,
        mode: args.mode,
        precision: args.precision,
        batch: args.batch,
        seq: args.seq,
        warmup: args.warmup,
        steps: args.steps,
        threads: args.threads,
        seed: args.seed,
        rank: args.rank,
        alpha: args.alpha,
        targets: args.targets,
    };
    options.check()?;
    set_compute_threads(args.threads)?;
    let compute = args.device.open()?;
    let report = minbert_bench::run(&options, &compute, &mut |line| println!("{line}"))?;
    if let Some(path) = &args.json {
        write_json(path, &report.to_json())?;
    }
    Ok(())
}
