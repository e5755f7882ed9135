use std::path::{Path, PathBuf};

/// Why a checkpoint or a run's file could not be read or written. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{path}: {source}", path = .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A JSON file (`meta.json`, `summary.json`, ...) that does not parse as one.
    #[error("{path}: {message}", path = .path.display())]
    Json { path: PathBuf, message: String },
    /// A checkpoint file that is missing, malformed or does not fit the model.
    #[error("{path}: {message}", path = .path.display())]
    Checkpoint { path: PathBuf, message: String },
    /// Another process holds the run folder's lock.
    #[error(
        "{dir} is in use by another minbert train{}: wait for it to finish or stop it, or choose another --out",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        dir = .dir.display()
    )]
    Locked { dir: PathBuf, pid: Option<u32> },
    /// A checkpoint that a live run replaced at every attempt to read it.
    #[error(transparent)]
    KeptReplaced(#[from] durable_fs::KeptReplaced),
    /// A file that could not be read, to copy it.
    #[error("cannot read {path}: {source}", path = .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// A source that cannot be exported in the format asked for.
    #[error("{0}")]
    Export(String),
    /// A step (loading a model, writing a file) that failed, named with what it did.
    #[error("{step}: {source}")]
    Step { step: String, source: Box<TaskError> },
    #[error(transparent)]
    Model(#[from] minbert_model::ModelError),
    #[error(transparent)]
    Peft(#[from] burn_peft::PeftError),
}

impl TaskError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn step(step: String, source: impl Into<TaskError>) -> Self {
        Self::Step {
            step,
            source: Box::new(source.into()),
        }
    }

    pub(crate) fn checkpoint(path: &Path, message: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

impl From<durable_fs::Error> for TaskError {
    fn from(e: durable_fs::Error) -> Self {
        Self::Io {
            path: e.path,
            source: e.source,
        }
    }
}
