//! What a command does around [`train`](crate::train): the run's folder and config file, the
//! config's base model and data folder made explicit, and the interrupt flag that signals set.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use minbert_data::DataDir;
use minbert_hub::{DEFAULT_MODEL, ModelOrigin, ModelSource};
use minbert_task::run::CONFIG_FILE;

use crate::{TrainConfig, TrainError};

/// The run folder and its config file: `out`, else `runs/<config's file stem>`; `config`, else
/// the run's own config.toml (to resume it).
pub fn run_paths(out: Option<&Path>, config: Option<&Path>) -> Result<(PathBuf, PathBuf), TrainError> {
    let out = match (out, config) {
        (Some(out), _) => out.to_path_buf(),
        (None, Some(config)) => {
            Path::new("runs").join(config.file_stem().ok_or(TrainError::Usage("--config names no file"))?)
        }
        (None, None) => return Err(TrainError::Usage("--resume needs --out DIR (the run to continue)")),
    };
    let config = config.map_or_else(|| out.join(CONFIG_FILE), Path::to_path_buf);
    Ok((out, config))
}

impl TrainConfig {
    /// Fills in the base model and the data folder, so the run's config.toml says exactly what
    /// was used: `given` (`--model` or MINBERT_MODEL) over `model.path` over the default model,
    /// a directory made absolute or a Hub id; `data_dir` (`--data-dir`) over `data.dir` over
    /// minbert-data's lookup.
    pub fn resolve_paths(
        &mut self,
        given: Option<(String, ModelOrigin)>,
        data_dir: Option<&Path>,
    ) -> Result<(), TrainError> {
        let (name, origin) = match (given, &self.model.path) {
            (Some((name, origin)), _) => (name, origin.name()),
            (None, Some(name)) => (name.clone(), "model.path"),
            (None, None) => (DEFAULT_MODEL.to_string(), "the default model"),
        };
        let source =
            ModelSource::parse(&name, Path::new(".")).map_err(|source| TrainError::ModelName { origin, source })?;
        self.model.path = Some(match source {
            ModelSource::Dir(dir) => std::fs::canonicalize(&dir)
                .map_err(|source| TrainError::ModelDir { path: dir, source })?
                .display()
                .to_string(),
            ModelSource::Hub(id) => id,
        });
        let data = DataDir::resolve(data_dir.or(self.data.dir.as_deref()))?;
        self.data.dir = Some(data.path().to_path_buf());
        Ok(())
    }
}

/// A flag for [`TrainOptions::interrupt`](crate::TrainOptions) that SIGINT and SIGTERM set, so
/// the trainer saves last/ at the next step and stops; a second signal ends the process at
/// once (exit code 130). For a binary's `main` thread: the handlers stay for the process.
pub fn interrupt_on_signals() -> Result<Arc<AtomicBool>, TrainError> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in signal_hook::consts::TERM_SIGNALS {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(*signal, 130, flag.clone()).map_err(TrainError::Signals)?;
        signal_hook::flag::register(*signal, flag.clone()).map_err(TrainError::Signals)?;
    }
    Ok(flag)
}
