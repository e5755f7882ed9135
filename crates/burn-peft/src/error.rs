use std::path::{Path, PathBuf};

/// Why an adapter could not be configured, attached, loaded or saved. Every variant names the
/// file and the key (or module path) at fault where there is one.
#[derive(Debug, thiserror::Error)]
pub enum PeftError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A bad or unsupported value in a [`LoraConfig`](crate::LoraConfig) or `adapter_config.json`.
    #[error("{}\"{key}\": {message}", in_file(.path))]
    Config {
        path: Option<PathBuf>,
        key: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Json { path: PathBuf, message: String },
    #[error("target_modules {targets} match none of the model's linear layers; available: {}", .available.join(", "))]
    NoMatch { targets: String, available: Vec<String> },
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    /// A tensor of an adapter file that is missing, misshapen, not a float, or for no module.
    #[error("{path}: \"{key}\" {message}")]
    Tensor {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// A model, module path or adapter state that the operation does not fit.
    #[error("{0}")]
    Model(String),
    /// Adapters that a weighted merge cannot combine, or merge arguments it cannot use.
    #[error("add_weighted_adapter: {0}")]
    Merge(String),
    /// A named adapter that does not exist, or a name already taken.
    #[error("adapter {name:?} {message}")]
    Adapter { name: String, message: String },
}

impl PeftError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn config(key: &str, message: impl Into<String>) -> Self {
        Self::Config {
            path: None,
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The same error, attributed to the file it came from.
    pub(crate) fn in_file(self, file: &Path) -> Self {
        match self {
            Self::Config {
                path: None,
                key,
                message,
            } => Self::Config {
                path: Some(file.to_path_buf()),
                key,
                message,
            },
            other => other,
        }
    }
}

fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default()
}
