//! Trains a rank-1 LoRA on SST alone, from Rust, and prints its best dev accuracy.
//!
//!     cargo run --release --example train_lora -- runs/example-lora [EXAMPLES] [SEED]
//!
//! EXAMPLES: the SST train and dev examples used (default 512). The base model is
//! `MINBERT_MODEL` where set, else the default Hub id; the data is `MINBERT_DATA_DIR`, else
//! `data/`.

use anyhow::{Context, Result};
use minbert_train::{TrainConfig, TrainOptions, train};

fn main() -> Result<()> {
    minbert_device::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args.first().map_or("runs/example-lora", String::as_str);
    let examples = args.get(1).map_or("512", String::as_str);
    let seed = args.get(2).map_or("1", String::as_str);
    let model = std::env::var("MINBERT_MODEL").unwrap_or_else(|_| minbert_hub::DEFAULT_MODEL.to_string());
    let config = format!(
        "[model]\npath = {model:?}\npooling = \"mean\"\n[adapter]\nmode = \"lora\"\nr = 1\n\
         [data]\nmax_len = 64\nsubset = {examples}\ndev_subset = {examples}\n[tasks.sst]\n\
         [train]\nepochs = 1\nbatch_size = 16\nlr = 1e-3\nseed = {seed}\n"
    );
    let config = TrainConfig::parse(&config, "train_lora.toml".as_ref(), &[])?;
    let device = minbert_device::open_device("auto")?.device;
    let trained = train(&config, &TrainOptions::new(out, device)).with_context(|| format!("training {out}"))?;
    let best = trained.summary.best.context("no dev score: nothing became best/")?;
    println!(
        "{out}: {} steps, best/ at step {} with SST dev accuracy {:.3}",
        trained.summary.steps, best.step, best.scores.sst_acc
    );
    Ok(())
}
