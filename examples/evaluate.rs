//! Scores a checkpoint on the course's dev split, from Rust, and prints what `minbert
//! eval` prints.
//!
//!     cargo run --release --example evaluate -- runs/example-lora/best

use anyhow::{Context, Result};
use minbert_data::Split;
use minbert_eval::{ScoringOptions, evaluate};

fn main() -> Result<()> {
    let checkpoint = std::env::args().nth(1).context("usage: evaluate CHECKPOINT_DIR")?;
    let options = ScoringOptions {
        data_dir: None,
        batch_size: 64,
        device: minbert_device::open_device("auto")?.device,
        base: None,
    };
    let evaluation = evaluate(options, checkpoint.as_ref(), Split::Dev, 0)?;
    println!("{}", evaluation.heading());
    print!("{}", evaluation.table());
    Ok(())
}
