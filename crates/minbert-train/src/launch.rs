//! What a command does around [`train`](crate::train): the run's folder and config file, the
//! config's base model and data folder made explicit, the interrupt flag that signals set, and
//! the summary printed at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use minbert_data::DataDir;
use minbert_hub::{DEFAULT_MODEL, ModelOrigin, ModelSource};
use minbert_task::run::CONFIG_FILE;
use minbert_task::{Metric, RunSummary};

use crate::{TrainConfig, TrainError};
use minbert_task::format_duration;

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
        let source = ModelSource::parse(&name, Path::new(".")).map_err(|e| TrainError::ModelName {
            origin,
            source: Box::new(e),
        })?;
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

/// What `minbert train` prints when a run ends: its status, the best checkpoint's scores (tasks
/// the run did not train left out), the time and speed, parameters, memory and precision.
pub fn summary_report(s: &RunSummary, out: &Path) -> String {
    let mut lines = Vec::new();
    lines.push(format!(
        "run {} {} after {} steps ({} epochs)",
        out.display(),
        s.status,
        s.steps,
        s.epochs
    ));
    if let Some(best) = &s.best {
        // Tasks the run did not train score NaN: left out.
        let scores: Vec<String> = Metric::COURSE
            .iter()
            .map(|&metric| (metric, best.scores.get(metric)))
            .filter(|(_, v)| !v.is_nan())
            .map(|(metric, v)| format!("{metric} {v:.4}"))
            .collect();
        lines.push(format!(
            "best ({} at step {}): {}",
            s.select,
            best.step,
            scores.join("  ")
        ));
    }
    let speeds: Vec<String> = s
        .examples_per_s
        .iter()
        .map(|(task, v)| format!("{task} {v:.1}"))
        .collect();
    lines.push(format!(
        "time: training {}, evaluation {}; examples/s (forward + backward) {}; overall {:.1}",
        format_duration(s.train_s),
        format_duration(s.eval_s),
        speeds.join(", "),
        s.train_examples_per_s
    ));
    lines.push(format!(
        "params: {} trainable of {}; peak memory {}; precision {} (compute {}){}",
        s.params.trainable,
        s.params.total,
        s.peak_rss_mib.map_or("?".into(), |m| format!("{m:.0} MiB")),
        s.precision.requested.name(),
        s.precision.compute.name(),
        if s.skipped_steps > 0 {
            format!(", {} f16 steps skipped", s.skipped_steps)
        } else {
            String::new()
        }
    ));
    lines.iter().map(|l| format!("{l}\n")).collect()
}
