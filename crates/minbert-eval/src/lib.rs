//! Evaluation for minbert: the course's metrics, its prediction files, ensembles of
//! checkpoints, and reports.

pub mod ensemble;
pub mod outputs;
pub mod predictions;
pub mod report;

use std::path::{Path, PathBuf};

use minbert_data::CourseTask;

pub use minbert_task::metrics::{self, Metric, Scores};

/// Why an evaluation step failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    PredictionFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("ensemble: {0}")]
    Ensemble(String),
    #[error("the checkpoint has no {task} head")]
    NoTask { task: CourseTask },
    #[error(
        "{task} example {id} has no label: only the train and dev splits can be scored (minbert predict writes test predictions)"
    )]
    NoLabels { task: CourseTask, id: String },
    /// A checkpoint or a run's file that does not load (the message names the file).
    #[error(transparent)]
    Task(#[from] minbert_task::TaskError),
    #[error(transparent)]
    Data(#[from] minbert_data::DataError),
    #[error(transparent)]
    Tokenizer(#[from] minbert_data::TokenizerError),
    /// A directory given as a run that is none (and holds none).
    #[error("{path}: not a training run ({reason}); expected a run directory with config.toml and metrics.jsonl, or a folder of them", path = .path.display())]
    NotARun { path: PathBuf, reason: String },
    /// A line of a run's `metrics.jsonl` that is not what the trainer writes.
    #[error("{path}:{line}: {message}", path = .path.display())]
    Metrics {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A run's `config.toml` that does not parse (the message has the line and the key).
    #[error("{path}: {message}", path = .path.display())]
    RunConfig { path: PathBuf, message: String },
    /// Drawing a report plot failed.
    #[error("plot {file}: {message}")]
    Plot { file: String, message: String },
}

/// A durable write's failure, with the path it failed on.
impl From<durable_fs::Error> for EvalError {
    fn from(e: durable_fs::Error) -> Self {
        Self::io(&e.path, e.source)
    }
}

impl EvalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
