//! Evaluation for minbert: the course's metrics, its prediction files, ensembles of
//! checkpoints, and reports.

pub mod ensemble;
pub mod outputs;
pub mod predictions;

use std::path::{Path, PathBuf};

use minbert_data::CourseTask;

/// The metrics live with the trainer, which evaluates on dev while it trains.
pub use minbert_train::metrics::{self, Scores};

/// Why an evaluation step failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    PredictionFile { path: PathBuf, line: usize, message: String },
    #[error("ensemble: {0}")]
    Ensemble(String),
    #[error("the checkpoint has no {task} head")]
    NoTask { task: CourseTask },
    #[error("{task} example {id} has no label: only the train and dev splits can be scored (minbert predict writes test predictions)")]
    NoLabels { task: CourseTask, id: String },
    #[error(transparent)]
    Train(#[from] minbert_train::TrainError),
    #[error(transparent)]
    Data(#[from] minbert_data::DataError),
    #[error(transparent)]
    Tokenizer(#[from] minbert_data::TokenizerError),
}

impl EvalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}
