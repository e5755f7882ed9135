//! What evaluating, predicting and ensembling share: loading a checkpoint on the base model it
//! was trained on, reading a split of the course data the way it was trained to read it, and
//! running it over that split with a progress bar. Notes, warnings and progress go to stderr,
//! as the trainer's do.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use minbert_data::{CourseTask, DataDir, DataError, Split};
use minbert_hub::ModelOrigin;
use minbert_task::LoadedCheckpoint;
use minbert_task::checkpoint::{ChosenBase, load_checkpoint_with_base, read_meta};
use minbert_task::format_duration;

use crate::EvalError;
use crate::ensemble::TaskOutputs;
use crate::outputs::{TaskSplit, checkpoint_outputs, checkpoint_tokenizer, read_task_split};

/// A base model given for the checkpoints instead of the one each records.
#[derive(Debug, Clone)]
pub struct GivenBase {
    /// The model's directory.
    pub dir: PathBuf,
    /// Where it was named, for messages (`--model=NAME`, `MINBERT_MODEL=NAME`).
    pub origin: String,
    /// Named for these checkpoints (`--model`): it must be their base. Otherwise it is a default
    /// for every command (an exported `MINBERT_MODEL`), which serves only where it is the
    /// checkpoint's own base.
    pub explicit: bool,
}

impl GivenBase {
    /// The base model that `flag` (`--model`) or else `MINBERT_MODEL` names, resolved; `None`
    /// when neither names one.
    pub fn from_flag_or_env(flag: Option<&str>) -> Result<Option<Self>, EvalError> {
        let Some((name, origin)) = minbert_hub::given_model(flag) else {
            return Ok(None);
        };
        Ok(Some(Self {
            dir: minbert_hub::resolve_given(flag)?.dir,
            origin: format!("{}={name}", origin.name()),
            explicit: origin == ModelOrigin::Flag,
        }))
    }
}

/// How checkpoints are scored.
#[derive(Debug, Clone)]
pub struct ScoringOptions {
    /// The folder of the course files; `None`: `MINBERT_DATA_DIR`, else `data/`.
    pub data_dir: Option<PathBuf>,
    /// Examples per batch (`--batch-size`).
    pub batch_size: usize,
    pub device: Device,
    /// The base model to load the checkpoints on; `None`: each one's recorded base.
    pub base: Option<GivenBase>,
}

/// Tasks whose split file is not there, with the reason.
pub type MissingSplits = Vec<(CourseTask, String)>;

/// The checkpoints' shared set-up: the options and the data folder.
pub struct Scorer {
    options: ScoringOptions,
    data_dir: DataDir,
}

/// Refuses a batch size of 0, which scores nothing; callers check it before opening a device.
pub fn check_batch_size(batch_size: usize) -> Result<(), EvalError> {
    match batch_size {
        0 => Err(EvalError::BatchSize),
        _ => Ok(()),
    }
}

impl Scorer {
    /// Checks the batch size and finds the data folder.
    pub fn new(options: ScoringOptions) -> Result<Self, EvalError> {
        check_batch_size(options.batch_size)?;
        let data_dir = DataDir::resolve(options.data_dir.as_deref())?;
        Ok(Self { options, data_dir })
    }

    /// Loads the checkpoint in `dir` (a run's `best/` or `last/`, or a released one) on its
    /// base model, as [`checkpoint_base`] chooses it.
    pub fn load(&self, dir: &Path) -> Result<LoadedCheckpoint, EvalError> {
        let base = checkpoint_base(self.options.base.as_ref(), dir)?;
        load_checkpoint_with_base(dir, base.as_ref(), &self.options.device).map_err(|source| {
            EvalError::LoadCheckpoint {
                dir: dir.to_path_buf(),
                source: Box::new(source),
            }
        })
    }

    /// Reads `split` of every task of `checkpoint`. With `skip_missing`, a task whose file is
    /// not there is left out and named in the second list (the course's Quora test file, say).
    pub fn read_splits(
        &self,
        checkpoint: &LoadedCheckpoint,
        split: Split,
        subset: usize,
        skip_missing: bool,
    ) -> Result<(Vec<TaskSplit>, MissingSplits), EvalError> {
        let tokenizer = checkpoint_tokenizer(checkpoint)?;
        let mut splits = Vec::new();
        let mut missing = Vec::new();
        for &task in &checkpoint.meta.tasks {
            match read_task_split(checkpoint, &tokenizer, &self.data_dir, task, split, subset) {
                Ok(s) => splits.push(s),
                Err(EvalError::Data(e @ DataError::MissingFile { .. })) if skip_missing => {
                    missing.push((task, e.to_string()))
                }
                Err(e) => {
                    return Err(EvalError::ReadSplit {
                        task,
                        split,
                        source: Box::new(e),
                    });
                }
            }
        }
        Ok((splits, missing))
    }

    /// Runs `checkpoint` over `splits`, with a progress bar on a terminal and a closing line.
    pub fn outputs(&self, checkpoint: &LoadedCheckpoint, splits: &[TaskSplit], label: &str) -> TaskOutputs {
        let total: usize = splits.iter().map(|s| s.dataset.len()).sum();
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} examples [{elapsed_precise}<{eta_precise}]",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            )
            .with_prefix(label.to_string());
        let started = Instant::now();
        let outputs = checkpoint_outputs(checkpoint, splits, self.options.batch_size, &mut |n| bar.inc(n as u64));
        bar.finish_and_clear();
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "{label}: {total} examples in {} ({:.1} examples/s)",
            format_duration(elapsed),
            total as f64 / elapsed.max(1e-9)
        );
        outputs
    }
}

/// The base model to load the checkpoint in `dir` on, other than the recorded one: `given` if
/// explicit (it must be that model, which loading checks), or if it holds that model (a local
/// copy); otherwise a note on stderr and `None`, the recorded one.
pub fn checkpoint_base(given: Option<&GivenBase>, dir: &Path) -> Result<Option<ChosenBase>, EvalError> {
    let Some(given) = given else {
        return Ok(None);
    };
    let chosen = ChosenBase {
        dir: given.dir.clone(),
        origin: given.origin.clone(),
    };
    if given.explicit {
        return Ok(Some(chosen));
    }
    let meta = read_meta(dir).map_err(|source| EvalError::LoadCheckpoint {
        dir: dir.to_path_buf(),
        source: Box::new(source),
    })?;
    match meta.base_model.mismatch(&given.dir, meta.uses_base_weights()) {
        Ok(None) => Ok(Some(chosen)),
        Ok(Some(why)) => {
            eprintln!(
                "note: {} is not the base model of {} ({why}); using the recorded one, {}",
                chosen.origin,
                dir.display(),
                meta.base_model.describe()
            );
            Ok(None)
        }
        Err(source) => Err(EvalError::BaseModel {
            model: given.dir.clone(),
            origin: given.origin.clone(),
            source: Box::new(source),
        }),
    }
}

/// Prints the notes of the splits (skipped rows, subsets) to stderr.
pub fn print_notes<'a>(splits: impl IntoIterator<Item = &'a TaskSplit>) {
    for note in splits.into_iter().flat_map(|s| &s.notes) {
        eprintln!("note: {note}");
    }
}

/// Warns, on stderr, of each task left out of `split` because its file is not there.
pub fn warn_missing(split: Split, missing: &MissingSplits) {
    for (task, why) in missing {
        eprintln!("warning: no {} predictions for {}: {why}", split.name(), task.name());
    }
}
