//! The run directory `minbert train` writes and `minbert report` reads:
//!
//! ```text
//! config.toml     the run's whole config, every key written
//! metrics.jsonl   one MetricsLine per logging window and per dev evaluation
//! best/, last/    checkpoints (see the checkpoint module); last/ also resumes the run
//! summary.json    RunSummary, once the run ended
//! .lock           held (an OS lock) by the one process writing the run; holds its pid
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use burn_peft::ParamCount;

use crate::TaskError;
use crate::checkpoint::PrecisionInfo;
use crate::metrics::{Metric, Scores};
use crate::spec::AdapterConfig;

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const SUMMARY_FILE: &str = "summary.json";
pub const BEST_DIR: &str = "best";
pub const LAST_DIR: &str = "last";
pub const LOCK_FILE: &str = ".lock";

/// The exclusive OS lock of a run folder, held while a process writes it (train). The OS
/// releases it when the process ends, however it ends, so a stale lock file never blocks.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// Takes the lock of `dir` (created if missing), or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, TaskError> {
        std::fs::create_dir_all(dir).map_err(|e| TaskError::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| TaskError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok());
                return Err(TaskError::Locked {
                    dir: dir.to_path_buf(),
                    pid,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(TaskError::io(&path, e)),
        }
        // The pid is only for the message a second writer gets; the lock is the OS's.
        file.set_len(0)
            .and_then(|_| write!(file, "{}", std::process::id()))
            .map_err(|e| TaskError::io(&path, e))?;
        Ok(Self { _file: file })
    }
}

/// One line of `metrics.jsonl`. Readers skip lines of another `type` ([`MetricsLine::Other`]),
/// so newer trainers can log more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MetricsLine {
    /// The mean training loss per task over a logging window.
    Train {
        step: usize,
        /// Epochs done, with the fraction of the current one.
        epoch: f64,
        #[serde(default)]
        lr: f64,
        /// Tasks without batches in the window are absent; `null` where not finite.
        loss: BTreeMap<String, Option<f64>>,
        /// `null` where not finite.
        #[serde(default)]
        grad_norm: Option<f64>,
        /// f16 loss scaling only.
        #[serde(default)]
        loss_scale: Option<f64>,
        #[serde(default)]
        skipped_steps: Option<usize>,
        #[serde(default)]
        examples_per_s: f64,
        /// Seconds since the run started (resumed parts included).
        wall_s: f64,
        /// Unix time of the line.
        #[serde(default)]
        time: f64,
    },
    /// A dev evaluation.
    Eval {
        step: usize,
        epoch: f64,
        scores: Scores,
        /// Whether it became `best/`.
        #[serde(default)]
        best: bool,
        eval_s: f64,
        wall_s: f64,
        #[serde(default)]
        time: f64,
    },
    #[serde(other)]
    Other,
}

impl MetricsLine {
    /// Step, epoch and wall time of a train or eval line.
    pub fn position(&self) -> Option<(usize, f64, f64)> {
        match *self {
            MetricsLine::Train {
                step, epoch, wall_s, ..
            }
            | MetricsLine::Eval {
                step, epoch, wall_s, ..
            } => Some((step, epoch, wall_s)),
            MetricsLine::Other => None,
        }
    }
}

/// What [`MetricsLine`] expects, for messages about a line that is not one.
pub const METRICS_EXPECTED: &str = "expected a JSON object with \"type\": \"train\" (step, epoch, loss, wall_s) or \"eval\" (step, epoch, scores, eval_s, wall_s)";

/// What a report reads of a run's `config.toml`: what was adapted and how the best checkpoint
/// was chosen. The rest of the file is the trainer's business.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    pub adapter: AdapterConfig,
    pub train: RunTrainKeys,
}

/// The `[train]` keys of [`RunConfig`].
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct RunTrainKeys {
    /// The score that picked `best/`.
    pub select: Metric,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub minbert_version: String,
    /// `completed`, `max_steps`, `early_stop`, or `paused` (then not written to `summary.json`).
    pub status: String,
    pub steps: usize,
    pub epochs: usize,
    /// The score `best/` was chosen by.
    pub select: Metric,
    pub best: Option<BestCheckpoint>,
    /// Scores at the last evaluation.
    pub last_scores: Option<Scores>,
    /// Seconds of training and of evaluation over the whole run (resumed parts included).
    pub train_s: f64,
    pub eval_s: f64,
    /// Seconds of this invocation.
    pub wall_s: f64,
    /// Training examples seen, and examples per second of forward and backward time, per task.
    pub examples: BTreeMap<String, usize>,
    pub examples_per_s: BTreeMap<String, f64>,
    /// Examples per second of training time (optimizer steps included).
    pub train_examples_per_s: f64,
    /// Peak resident memory of this invocation (`VmHWM`), MiB.
    pub peak_rss_mib: Option<f64>,
    pub params: ParamCount,
    pub precision: PrecisionInfo,
    /// f16 steps skipped because their gradients overflowed.
    pub skipped_steps: usize,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestCheckpoint {
    pub step: usize,
    /// Epochs done (a fraction when evaluated within an epoch).
    pub epoch: f64,
    pub scores: Scores,
}
