//! Averages two or more checkpoints' predictions, from Rust: each member's and the ensemble's
//! dev scores, with the members chosen greedily on dev.
//!
//!     cargo run --release --example ensemble -- runs/a/best runs/b/best

use std::path::PathBuf;

use anyhow::{Result, ensure};
use minbert_eval::ensemble::combine::{EnsembleOptions, Ensembler, MemberSource, Selection};
use minbert_eval::{Metric, ScoringOptions};

fn main() -> Result<()> {
    let checkpoints: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    ensure!(
        checkpoints.len() >= 2,
        "usage: ensemble CHECKPOINT_DIR CHECKPOINT_DIR..."
    );
    let options = EnsembleOptions {
        members: MemberSource::Checkpoints(checkpoints),
        weights: None,
        selection: Selection::Greedy,
        metric: Metric::Overall,
        per_task: false,
        subset: 0,
    };
    let scoring = ScoringOptions {
        data_dir: None,
        batch_size: 64,
        device: minbert_device::open_device("auto")?.device,
        base: None,
    };
    let ensemble = Ensembler::new(options)?.run(scoring)?;
    // The members' and the ensemble's scores and who is in it, as `minbert ensemble` prints them.
    print!("{}", ensemble.table());
    Ok(())
}
