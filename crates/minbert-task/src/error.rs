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
