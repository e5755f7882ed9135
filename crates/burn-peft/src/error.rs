use std::path::{Path, PathBuf};

/// Why an adapter could not be configured, attached, loaded or saved. Every variant names the
/// file and the key (or module path) at fault where there is one.
#[derive(Debug, thiserror::Error)]
pub enum PeftError {
    /// A file or folder that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A bad or unsupported value in a [`LoraConfig`](crate::LoraConfig) or `adapter_config.json`.
    #[error("{}\"{key}\": {message}", in_file(.path))]
    Config {
        /// The `adapter_config.json` it came from, if any.
        path: Option<PathBuf>,
        /// The config key.
        key: String,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// An `adapter_config.json` that is not a JSON object.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `exclude_modules` leaving out every layer `target_modules` matches (PEFT's message,
    /// then the layers).
    #[error(
        "All modules were excluded. This is likely unintended. Check your `target_modules`, `exclude_modules` and `modules_to_save` configuration (target_modules match {}, all excluded)",
        .excluded.join(", ")
    )]
    AllExcluded {
        /// The layers `target_modules` matches.
        excluded: Vec<String>,
    },
    /// `target_modules` that select no layer of the model.
    #[error("target_modules {targets} match none of the model's linear layers; available: {}", .available.join(", "))]
    NoMatch {
        /// The targets, as configured.
        targets: String,
        /// The model's linear layers.
        available: Vec<String>,
    },
    /// A file that is not safetensors.
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader said.
        message: String,
    },
    /// A tensor of an adapter file that is missing, misshapen, not a float, or for no module.
    #[error("{path}: \"{key}\" {message}")]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// A model, module path or adapter state that the operation does not fit.
    #[error("{0}")]
    Model(String),
    /// Adapters that a weighted merge cannot combine, or merge arguments it cannot use.
    #[error("add_weighted_adapter: {0}")]
    Merge(String),
    /// A mixed-adapter batch PEFT would refuse too (its message).
    #[error("adapter_names: {0}")]
    MixedBatch(String),
    /// Adapter directories that cannot be merged together, or weights that do not fit them.
    #[error("{0}")]
    Incompatible(String),
    /// A step (reading an adapter, merging) that failed, named with what it did.
    #[error("{step}: {source}")]
    Step {
        /// What was being done.
        step: String,
        /// Why it failed.
        source: Box<PeftError>,
    },
    /// A named adapter that does not exist, or a name already taken.
    #[error("adapter {name:?} {message}")]
    Adapter {
        /// The adapter's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl PeftError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn step(step: String, source: PeftError) -> Self {
        Self::Step {
            step,
            source: Box::new(source),
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

impl From<durable_fs::Error> for PeftError {
    fn from(e: durable_fs::Error) -> Self {
        Self::Io {
            path: e.path,
            source: e.source,
        }
    }
}
