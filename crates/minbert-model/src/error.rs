use std::path::{Path, PathBuf};

/// Why a model could not be configured or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model directory {0} does not exist (set --model or MINBERT_MODEL)")]
    MissingDir(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("no weights in {dir}: expected model.safetensors")]
    NoWeights { dir: PathBuf },
    #[error("{path}: the weights do not fit the config:{}", format_mismatch(.missing, .unexpected, .misshapen))]
    Mismatch {
        path: PathBuf,
        missing: Vec<String>,
        unexpected: Vec<String>,
        /// `(key, expected shape, found shape)`.
        misshapen: Vec<(String, Vec<usize>, Vec<usize>)>,
    },
    #[error("{path}: tensor \"{key}\" has dtype {dtype}, expected a float type (F32, F16, BF16, F64)")]
    Dtype { path: PathBuf, key: String, dtype: String },
    /// An input file of token ids that could not be read.
    #[error("cannot read input {path}: {source}")]
    InputRead { path: PathBuf, source: std::io::Error },
    /// An input file of token ids with a missing, misshapen or out-of-range tensor.
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    /// [`EmbedOptions::batch_size`](crate::EmbedOptions) 0.
    #[error("--batch-size must be at least 1")]
    BatchSize,
}

impl ModelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn format_mismatch(
    missing: &[String],
    unexpected: &[String],
    misshapen: &[(String, Vec<usize>, Vec<usize>)],
) -> String {
    let mut out = String::new();
    if !missing.is_empty() {
        out += &format!(" missing keys: {};", missing.join(", "));
    }
    if !unexpected.is_empty() {
        out += &format!(" unexpected keys: {};", unexpected.join(", "));
    }
    for (key, expected, found) in misshapen {
        out += &format!(" \"{key}\" has shape {found:?}, expected {expected:?};");
    }
    out.pop();
    out
}

impl From<durable_fs::Error> for ModelError {
    fn from(e: durable_fs::Error) -> Self {
        Self::Io {
            path: e.path,
            source: e.source,
        }
    }
}
