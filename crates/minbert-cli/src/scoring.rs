//! What `eval`, `predict` and `ensemble` share: loading a checkpoint on the base model it was
//! trained on, reading a split of the course data the way it was trained to read it, and
//! running it over that split with a progress bar.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use minbert_data::{CourseTask, DataDir, DataError, Split};
use minbert_eval::EvalError;
use minbert_eval::ensemble::TaskOutputs;
use minbert_eval::outputs::{TaskSplit, checkpoint_outputs, checkpoint_tokenizer, read_task_split};
use minbert_task::LoadedCheckpoint;
use minbert_task::checkpoint::{ChosenBase, load_checkpoint_with_base, read_meta};
use minbert_train::progress::format_duration;

use crate::backend::DeviceArgs;
use crate::model_dir::{ModelArgs, ModelOrigin};

/// How checkpoints are scored: the data, batch size, threads, base model and device.
#[derive(Args, Debug, Clone)]
pub struct ScoringArgs {
    /// Folder with the course files [default: MINBERT_DATA_DIR, else data/ in the current
    /// directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Examples per batch (no gradients are kept, so this can be larger than in training).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Compute threads on the CPU [default: RAYON_NUM_THREADS, else every core]
    #[arg(long)]
    pub threads: Option<usize>,
    /// The base model the checkpoints were trained on [default: the path in their meta.json
    /// where it exists, else the default model]; its weights must match meta.json's sha256.
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Tasks whose split file is not there, with the reason.
pub type MissingSplits = Vec<(CourseTask, String)>;

/// A split of the course data, as a flag.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    Train,
    Dev,
    Test,
}

impl SplitArg {
    pub fn split(self) -> Split {
        match self {
            Self::Train => Split::Train,
            Self::Dev => Split::Dev,
            Self::Test => Split::Test,
        }
    }
}

/// The checkpoints' shared set-up: threads, device and data folder.
pub struct Scorer {
    pub args: ScoringArgs,
    pub device: Device,
    pub data_dir: DataDir,
}

impl Scorer {
    pub fn new(args: ScoringArgs) -> Result<Self> {
        if args.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if let Some(threads) = args.threads {
            crate::backend::set_compute_threads(threads)?;
        }
        let device = args.device.device()?;
        let data_dir = DataDir::resolve(args.data_dir.as_deref())?;
        Ok(Self { args, device, data_dir })
    }

    /// Loads the checkpoint in `dir` (a run's `best/` or `last/`, or a released one) on its
    /// base model: `--model` if given (it must be that model), else `MINBERT_MODEL` where it
    /// holds that model (a local copy of it), else the one its `meta.json` names.
    pub fn load(&self, dir: &Path) -> Result<LoadedCheckpoint> {
        let base = checkpoint_base(&self.args.model, dir)?;
        load_checkpoint_with_base(dir, base.as_ref(), &self.device)
            .with_context(|| format!("loading checkpoint {}", dir.display()))
    }

    /// Reads `split` of every task of `checkpoint`. With `skip_missing`, a task whose file is
    /// not there is left out and named in the second list (the course's Quora test file, say).
    pub fn read_splits(
        &self,
        checkpoint: &LoadedCheckpoint,
        split: Split,
        subset: usize,
        skip_missing: bool,
    ) -> Result<(Vec<TaskSplit>, MissingSplits)> {
        let tokenizer = checkpoint_tokenizer(checkpoint)?;
        let mut splits = Vec::new();
        let mut missing = Vec::new();
        for &task in &checkpoint.meta.tasks {
            match read_task_split(checkpoint, &tokenizer, &self.data_dir, task, split, subset) {
                Ok(s) => splits.push(s),
                Err(EvalError::Data(e @ DataError::MissingFile { .. })) if skip_missing => {
                    missing.push((task, e.to_string()))
                }
                Err(e) => return Err(e).with_context(|| format!("reading the {} {} split", task.name(), split.name())),
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
        let outputs = checkpoint_outputs(checkpoint, splits, self.args.batch_size, &mut |n| bar.inc(n as u64));
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

/// The base model to load the checkpoint in `dir` on, other than the recorded one: `--model`
/// (it must be that model), or `MINBERT_MODEL` where it holds that model (a local copy); `None`:
/// the recorded one.
pub fn checkpoint_base(model_args: &ModelArgs, dir: &Path) -> Result<Option<ChosenBase>> {
    let Some((name, origin)) = model_args.given() else {
        return Ok(None);
    };
    let model = model_args.resolve()?.dir;
    let chosen = ChosenBase {
        dir: model.clone(),
        origin: format!("{}={name}", origin.name()),
    };
    if origin == ModelOrigin::Flag {
        return Ok(Some(chosen));
    }
    // An exported MINBERT_MODEL is a default for every command, not a choice made for
    // this checkpoint: it serves only where it is the checkpoint's own base.
    let meta = read_meta(dir).with_context(|| format!("loading checkpoint {}", dir.display()))?;
    match meta.base_model.mismatch(&model, meta.uses_base_weights()) {
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
        Err(e) => Err(e).with_context(|| format!("{} ({})", model.display(), chosen.origin)),
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
