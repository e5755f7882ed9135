//! One checkpoint over one split: its course scores (`minbert eval`) or its prediction files
//! (`minbert predict`).

use std::path::{Path, PathBuf};

use minbert_data::{CourseTask, Split};
use minbert_task::checkpoint::CheckpointMeta;
use minbert_task::files::write_json;
use serde_json::json;

use crate::ensemble::TaskOutputs;
use crate::metrics::fmt_score;
use crate::outputs::GoldLabels;
use crate::predictions::write_outputs;
use crate::scoring::{Scorer, ScoringOptions, print_notes, warn_missing};
use crate::{EvalError, Scores};

/// A checkpoint's scores on a split.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub checkpoint: PathBuf,
    pub split: Split,
    pub scores: Scores,
    /// How many examples of each task were scored, in the checkpoint's task order.
    pub examples: Vec<(CourseTask, usize)>,
    pub meta: CheckpointMeta,
    /// The adapters' rank, where the checkpoint has adapters.
    pub lora_rank: Option<usize>,
}

impl Evaluation {
    /// The examples per task as a JSON object (`{"sst": 120, ...}`).
    pub fn examples_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let examples = self.examples.iter();
        examples.map(|(task, n)| (task.name().to_string(), json!(n))).collect()
    }

    /// What was scored: the checkpoint, its mode and rank, its trained parameters, the split.
    pub fn heading(&self) -> String {
        let (meta, rank) = (&self.meta, self.lora_rank);
        format!(
            "{} ({} mode{}, {} of {} parameters trained), {} split",
            self.checkpoint.display(),
            meta.mode.name(),
            rank.map_or(String::new(), |r| format!(", r={r}")),
            meta.params.trainable,
            meta.params.total,
            self.split.name()
        )
    }

    /// A table of every metric of the tasks scored, with how many examples each had.
    pub fn table(&self) -> String {
        let scores = &self.scores;
        let rows = [
            (CourseTask::Sst, "accuracy", scores.sst_acc),
            (CourseTask::Sst, "macro-F1", scores.sst_macro_f1),
            (CourseTask::Para, "accuracy", scores.quora_acc),
            (CourseTask::Para, "F1", scores.quora_f1),
            (CourseTask::Sts, "Pearson", scores.sts_pearson),
            (CourseTask::Sts, "Spearman", scores.sts_spearman),
        ];
        let mut out = format!("{:<8} {:<10} {:>8} {:>9}\n", "task", "metric", "value", "examples");
        for (task, metric, value) in rows {
            let name = if task == CourseTask::Para { "quora" } else { task.name() };
            if let Some((_, n)) = self.examples.iter().find(|(t, _)| *t == task) {
                out += &format!("{name:<8} {metric:<10} {:>8} {n:>9}\n", fmt_score(value));
            }
        }
        out += &format!("{:<8} {:<10} {:>8}\n", "overall", "", fmt_score(scores.overall));
        out
    }

    /// Writes the scores, the checkpoint, the split and the examples per task to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), EvalError> {
        let mut value = serde_json::to_value(self.scores).expect("scores serialize");
        let object = value.as_object_mut().expect("scores are an object");
        object.insert("checkpoint".into(), json!(self.checkpoint));
        object.insert("split".into(), json!(self.split.name()));
        object.insert("examples".into(), json!(self.examples_json()));
        Ok(write_json(path, &value)?)
    }
}

/// Refuses the test split, which has no labels to score; callers check it before opening a
/// device.
pub fn check_scorable(split: Split) -> Result<(), EvalError> {
    match split {
        Split::Test => Err(EvalError::TestSplit),
        Split::Train | Split::Dev => Ok(()),
    }
}

/// Scores the checkpoint in `checkpoint` on `split` (train or dev: test has no labels); with
/// `subset > 0`, on the seeded sample of that many examples per task the trainer scores with
/// `data.dev_subset`.
pub fn evaluate(
    options: ScoringOptions,
    checkpoint: &Path,
    split: Split,
    subset: usize,
) -> Result<Evaluation, EvalError> {
    check_scorable(split)?;
    let scorer = Scorer::new(options)?;
    let loaded = scorer.load(checkpoint)?;
    let (splits, _) = scorer.read_splits(&loaded, split, subset, false)?;
    print_notes(&splits);
    let label = format!("{} {}", checkpoint.display(), split.name());
    let outputs = scorer.outputs(&loaded, &splits, &label);
    Ok(Evaluation {
        checkpoint: checkpoint.to_path_buf(),
        split,
        scores: GoldLabels::of(&splits)?.score(&outputs),
        examples: splits.iter().map(|s| (s.task, s.dataset.len())).collect(),
        meta: loaded.meta,
        lora_rank: loaded.lora.map(|l| l.r),
    })
}

/// What a checkpoint or an ensemble predicts on a split, to be written as the course's files.
#[derive(Debug, Clone)]
pub struct Predictions {
    pub split: Split,
    pub outputs: TaskOutputs,
}

impl Predictions {
    /// Writes the course's prediction files (`sst-<split>-output.csv`, ...) into `dir`, which
    /// the caller has checked; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
        write_outputs(dir, self.split.name(), &self.outputs)
    }
}

/// What the checkpoint in `checkpoint` predicts on `split`. A task whose split file is not
/// there (the course's Quora test file is not distributed) is skipped with a warning rather
/// than the others.
pub fn predict(options: ScoringOptions, checkpoint: &Path, split: Split) -> Result<Predictions, EvalError> {
    let scorer = Scorer::new(options)?;
    let loaded = scorer.load(checkpoint)?;
    let (splits, missing) = scorer.read_splits(&loaded, split, 0, true)?;
    print_notes(&splits);
    warn_missing(split, &missing);
    if splits.is_empty() {
        return Err(EvalError::NoSplitFiles {
            split,
            checkpoint: checkpoint.to_path_buf(),
        });
    }
    let label = format!("{} {}", checkpoint.display(), split.name());
    let outputs = scorer.outputs(&loaded, &splits, &label);
    Ok(Predictions { split, outputs })
}
