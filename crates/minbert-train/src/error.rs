use std::path::{Path, PathBuf};

/// Why a run could not be configured, started, continued or saved. Each message names the
/// file (or `--set` override) and the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A bad config: `origin` is the file or the `--set key=value` override, where known.
    #[error("{}{error}", origin.as_ref().map(|o| format!("{o}: ")).unwrap_or_default())]
    Config { origin: Option<String>, error: ConfigError },
    #[error("{path}: {source}", path = .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Command-line flags that name no run (`--resume` without `--out`, say).
    #[error("{0}")]
    Usage(&'static str),
    /// A base model name that is neither a directory nor a Hub id; `origin` is where it was named.
    #[error("{origin}: {source}")]
    ModelName {
        origin: &'static str,
        source: Box<minbert_hub::HubError>,
    },
    /// A base model directory that cannot be made absolute.
    #[error("model directory {path}: {source}", path = .path.display())]
    ModelDir { path: PathBuf, source: std::io::Error },
    /// The signal handlers of [`interrupt_on_signals`](crate::interrupt_on_signals).
    #[error("installing the signal handlers: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Data(#[from] minbert_data::DataError),
    #[error(transparent)]
    Tokenizer(#[from] minbert_data::TokenizerError),
    #[error(transparent)]
    Model(#[from] minbert_model::ModelError),
    #[error(transparent)]
    Peft(#[from] burn_peft::PeftError),
    #[error(transparent)]
    Hub(#[from] minbert_hub::HubError),
    #[error(transparent)]
    Task(#[from] minbert_task::TaskError),
    /// A task file with no usable row: training or scoring the task would divide by zero.
    #[error(
        "{path}: no {task} example to use ({skipped} rows skipped without a numeric label); fix the file or remove [tasks.{task}]",
        path = .path.display()
    )]
    NoExamples {
        task: &'static str,
        path: PathBuf,
        skipped: usize,
    },
    /// A run's file (`metrics.jsonl`, `last/`) that does not fit the run being resumed.
    #[error("{path}: {message}", path = .path.display())]
    Checkpoint { path: PathBuf, message: String },
    /// `train.precision` asks for a half type the device does not compute in.
    #[error(
        "train.precision = \"{precision}\": the device {device} does not compute in {precision}; use f32, or f16 where the device has it"
    )]
    Precision { precision: &'static str, device: String },
    /// A data file differs from the one the run started on.
    #[error(
        "{path}: changed since the run started ({change}); restore it, or pass --accept-changed-data to continue on the new data (the current epoch then starts over)",
        path = .path.display()
    )]
    DataChanged { path: PathBuf, change: String },
    /// Stopped by a signal at a step boundary, with `last/` saved.
    #[error(
        "interrupted at step {step}; last/ is saved: continue with minbert train --resume --out {dir}",
        dir = .dir.display()
    )]
    Interrupted { step: usize, dir: PathBuf },
    /// f16 loss scaling skipped step after step: the gradients overflow whatever the scale.
    #[error(
        "train.precision = \"{precision}\": {steps} steps in a row overflowed and were skipped (loss scale now {scale}); the run diverged or f16's range is too small for it: try precision = \"bf16\" or \"f32\", or a lower train.lr"
    )]
    Overflowing {
        steps: usize,
        scale: f64,
        precision: &'static str,
    },
    /// The loss or the gradients stopped being finite (f32 and bf16; f16 skips such steps).
    #[error("step {step}: the {what} is not finite ({value}); lower train.lr or turn on train.clip_norm")]
    Diverged {
        step: usize,
        what: &'static str,
        value: f64,
    },
}

/// What is wrong with a config, wherever it came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// TOML that does not parse or does not fit the schema: serde's message, with the line and
    /// column, or the keys it expected.
    #[error("{0}")]
    Schema(String),
    /// A key whose value is out of range, missing, or at odds with another key's.
    #[error("{key}: {message}")]
    Key { key: String, message: String },
}

impl ConfigError {
    pub(crate) fn key(key: &str, message: impl Into<String>) -> Self {
        Self::Key {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn checkpoint(path: &Path, message: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
