//! The trainer's state in `last/` (`state.json`, `optimizer.safetensors`): what a resumed run
//! needs besides the model.

use std::path::Path;

use minbert_model::{HfTensor, read_safetensors};
use minbert_task::checkpoint::{OPTIMIZER_FILE, STATE_FILE};
use minbert_task::files::read_json;
use serde::{Deserialize, Serialize};

use crate::data::DataFile;
use crate::error::TrainError;
use crate::optim::LossScaler;
use crate::schedule::StreamPos;

/// The trainer's counters (`state.json` in `last/`): with the seed, everything a resumed run
/// needs to continue as if it had not stopped. The dropout RNG is reseeded from the seed and
/// `micro_step` before every batch, so these counters are its state too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps done.
    pub step: usize,
    /// Batches (forward and backward passes) done.
    pub micro_step: usize,
    /// The epoch in progress and how many of its batches are done.
    pub epoch: usize,
    pub epoch_batch: usize,
    /// Per task, in `meta.tasks` order: where its batch stream stands.
    pub streams: Vec<StreamPos>,
    pub seed: u64,
    pub loss_scaler: Option<LossScaler>,
    /// The best `select` score so far (its step is in `best/meta.json`), and evaluations since.
    pub best_score: Option<f64>,
    pub evals_since_best: usize,
    /// The step of the last evaluation (its scores are in `meta.json`).
    pub last_eval_step: Option<usize>,
    /// Training examples seen per task, in `meta.tasks` order, and the seconds their forward
    /// and backward passes took.
    pub examples: Vec<usize>,
    pub task_seconds: Vec<f64>,
    /// Seconds up to this checkpoint, summed over resumed runs: wall clock, the training loop
    /// (evaluations excluded), evaluations.
    pub elapsed_s: f64,
    pub train_s: f64,
    pub eval_s: f64,
    /// The data files the run trains and evaluates on, by content (absent in older runs).
    #[serde(default)]
    pub data: Vec<DataFile>,
}

impl TrainState {
    /// Starts the current epoch over with a new shuffle of every task (after the data
    /// changed): batch plans of the old files do not fit the new ones.
    pub fn restart_epoch(&mut self) {
        self.epoch_batch = 0;
        for stream in &mut self.streams {
            *stream = StreamPos {
                pass: stream.pass + 1,
                next: 0,
            };
        }
    }
}

/// `state.json` and the optimizer tensors of a `last/` directory.
pub fn read_resume_state(dir: &Path) -> Result<(TrainState, Vec<HfTensor>), TrainError> {
    let state: TrainState = read_json(&dir.join(STATE_FILE))?;
    let optimizer = read_safetensors(&dir.join(OPTIMIZER_FILE))?;
    Ok((state, optimizer))
}
