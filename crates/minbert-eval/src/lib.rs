//! Evaluation for minbert: the course's metrics, its prediction files, ensembles of
//! checkpoints, and reports.

pub mod ensemble;
pub mod evaluate;
pub mod outputs;
pub mod predictions;
pub mod report;
pub mod scoring;

use std::path::{Path, PathBuf};

use minbert_data::{CourseTask, Split};

pub use ensemble::combine::{Ensemble, EnsembleOptions, Ensembler, MemberScores, MemberSource, Selection};
pub use evaluate::{Evaluation, Predictions, evaluate, predict};
pub use scoring::{GivenBase, Scorer, ScoringOptions};

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
    /// A base model given by `--model` or `MINBERT_MODEL` that does not resolve.
    #[error(transparent)]
    Hub(#[from] minbert_hub::HubError),
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
    #[error("--batch-size must be at least 1")]
    BatchSize,
    #[error("loading checkpoint {}", dir.display())]
    LoadCheckpoint {
        dir: PathBuf,
        source: Box<minbert_task::TaskError>,
    },
    /// A given base model whose files could not be compared with a checkpoint's record.
    #[error("{} ({origin})", model.display())]
    BaseModel {
        model: PathBuf,
        origin: String,
        source: Box<minbert_task::TaskError>,
    },
    #[error("reading the {} {} split", task.name(), split.name())]
    ReadSplit {
        task: CourseTask,
        split: Split,
        source: Box<EvalError>,
    },
    #[error(
        "--split test: the test files have no labels to score; `minbert predict --split test` writes their predictions"
    )]
    TestSplit,
    #[error("no {} file for any task of {}", split.name(), checkpoint.display())]
    NoSplitFiles { split: Split, checkpoint: PathBuf },
    #[error("--weights: {weights} weights for {checkpoints} checkpoints; give one per --checkpoint")]
    WeightCount { weights: usize, checkpoints: usize },
    #[error(
        "--weights and --select {selection} exclude each other: {selection} selection weighs the members it picks equally"
    )]
    WeightsWithSelection { selection: &'static str },
    #[error("--weights: {reason}")]
    Weights { reason: Box<EvalError> },
    #[error("--weights of the members that cover {task}: {reason}")]
    TaskWeights { task: CourseTask, reason: Box<EvalError> },
    #[error("--per-task chooses each task's members on dev: give it with --select greedy or --select best")]
    PerTaskWithoutSelection,
    #[error(
        "--select best: {checkpoints} checkpoints, but an exhaustive search takes at most {max}; use --select greedy",
        max = ensemble::MAX_EXHAUSTIVE_MEMBERS
    )]
    TooManyForBest { checkpoints: usize },
    /// Members that cover different tasks, selected as one set for all tasks.
    #[error(
        "{} covers the tasks [{tasks}] but {} covers [{first_tasks}]: members that cover different tasks are chosen per task; add --per-task to --select {selection}",
        member.display(),
        first.display()
    )]
    DifferentTasks {
        member: PathBuf,
        tasks: String,
        first: PathBuf,
        first_tasks: String,
        selection: &'static str,
    },
    #[error(transparent)]
    Plan(#[from] ensemble::plan::PlanError),
    #[error("--json {}: cannot create its folder", path.display())]
    JsonFolder { path: PathBuf, source: std::io::Error },
    #[error("--json {}", path.display())]
    JsonPath { path: PathBuf, source: std::io::Error },
    #[error("checkpoint {}", dir.display())]
    Checkpoint { dir: PathBuf, source: std::io::Error },
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
