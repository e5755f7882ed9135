//! What a checkpoint predicts on a split of the course data: the split read and encoded the way
//! the checkpoint was trained to read it, the model's outputs as probabilities and scores
//! ([`TaskOutputs`], which ensembles average), and the course's scores against the gold labels.

use burn::module::Module;
use minbert_data::sample::dev_subset;
use minbert_data::{BertTokenizer, CourseOptions, CourseTask, DataDir, EncodedDataset, Split, encode_dataset};
use minbert_task::model::num_outputs;
use minbert_task::predict::{dataset_outputs, inference_model};
use minbert_task::{HeadKind, LoadedCheckpoint};

use crate::ensemble::TaskOutputs;
use crate::{EvalError, Scores};

/// One task's examples of a split, encoded for one checkpoint.
#[derive(Debug, Clone)]
pub struct TaskSplit {
    pub task: CourseTask,
    pub dataset: EncodedDataset,
    /// What a user should know about the file (skipped rows, a subset).
    pub notes: Vec<String>,
}

/// The tokenizer a checkpoint was trained with: its base model's, cut at its `max_len`.
pub fn checkpoint_tokenizer(checkpoint: &LoadedCheckpoint) -> Result<BertTokenizer, EvalError> {
    Ok(BertTokenizer::from_dir(&checkpoint.base_model)?.with_max_len(checkpoint.meta.data.max_len)?)
}

/// Reads `split` of `task` from `data_dir` and encodes it for `checkpoint` (its tokenizer, max
/// length and pair mode). With `subset > 0`, a dev split keeps the same seeded sample of
/// `subset` examples that the trainer's `data.dev_subset` scores.
pub fn read_task_split(
    checkpoint: &LoadedCheckpoint,
    tokenizer: &BertTokenizer,
    data_dir: &DataDir,
    task: CourseTask,
    split: Split,
    subset: usize,
) -> Result<TaskSplit, EvalError> {
    let spec = checkpoint.meta.model.task(task).ok_or(EvalError::NoTask { task })?;
    let options = CourseOptions {
        course_preprocessing: checkpoint.meta.data.course_preprocessing,
        ..CourseOptions::default()
    };
    let raw = data_dir.read(task, split, &options)?;
    let mut notes = raw.notes();
    let mut dataset = encode_dataset(&raw, tokenizer, spec.pair)?;
    if subset > 0 && subset < dataset.len() {
        notes.push(format!(
            "{}: {} subset of {subset} of {} examples",
            task.name(),
            split.name(),
            dataset.len()
        ));
        dev_subset(&mut dataset, subset, task);
    }
    Ok(TaskSplit { task, dataset, notes })
}

/// The checkpoint's probabilities and scores on `splits` (tasks without a split stay empty),
/// computed on an [`inference_model`] copy, `batch_size` examples at a time; `on_batch` hears how many
/// examples each batch held.
///
/// SST: the softmax of the 5 logits. Quora: the sigmoid of the logit; a cosine head's cosine is
/// mapped linearly so that its decision threshold lands on 0.5 (and clamped to [0, 1]). STS: the
/// score on the 0-5 scale. Thresholding these (argmax, > 0.5) gives the model's own predictions.
pub fn checkpoint_outputs(
    checkpoint: &LoadedCheckpoint,
    splits: &[TaskSplit],
    batch_size: usize,
    on_batch: &mut dyn FnMut(usize),
) -> TaskOutputs {
    let model = inference_model(&checkpoint.model);
    let device = model.devices().into_iter().next().expect("a model with parameters");
    let mut out = TaskOutputs::default();
    for split in splits {
        let spec = model
            .spec
            .task(split.task)
            .expect("splits are read for the checkpoint's tasks");
        let values = dataset_outputs(&model, split.task, &split.dataset, batch_size, &device, on_batch);
        debug_assert_eq!(values.len(), split.dataset.len() * num_outputs(split.task));
        let ids = split.dataset.examples.iter().map(|e| e.id.clone()).collect();
        match split.task {
            CourseTask::Sst => {
                out.sst_ids = ids;
                out.sst_probs = values.chunks(5).map(softmax5).collect();
            }
            CourseTask::Para => {
                out.para_ids = ids;
                let threshold = spec.para_threshold();
                out.para_probs = if spec.head == HeadKind::Cosine {
                    // cos = 1 maps to 1, cos = threshold to 0.5.
                    values
                        .iter()
                        .map(|&c| (0.5 + (f64::from(c) - threshold) / (2.0 * (1.0 - threshold))).clamp(0.0, 1.0))
                        .collect()
                } else {
                    values.iter().map(|&v| sigmoid(f64::from(v) - threshold)).collect()
                };
            }
            CourseTask::Sts => {
                out.sts_ids = ids;
                out.sts_scores = values.iter().map(|&v| f64::from(v) * spec.sts_scale()).collect();
            }
        }
    }
    out
}

/// The gold labels of labelled splits, aligned with [`checkpoint_outputs`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoldLabels {
    pub sst: Vec<usize>,
    pub para: Vec<usize>,
    pub sts: Vec<f64>,
}

impl GoldLabels {
    /// The labels of `splits`; a split without labels (test) is an error naming the task.
    pub fn of(splits: &[TaskSplit]) -> Result<Self, EvalError> {
        let mut gold = Self::default();
        gold.add(splits)?;
        Ok(gold)
    }

    /// Takes the labels of `splits` (replacing those of the same tasks); a split without
    /// labels (test) is an error naming the task.
    pub fn add<'a>(&mut self, splits: impl IntoIterator<Item = &'a TaskSplit>) -> Result<(), EvalError> {
        for split in splits {
            let labels = split
                .dataset
                .examples
                .iter()
                .map(|e| {
                    e.label.ok_or(EvalError::NoLabels {
                        task: split.task,
                        id: e.id.clone(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            match split.task {
                CourseTask::Sst => self.sst = labels.iter().map(|l| l.as_class() as usize).collect(),
                CourseTask::Para => self.para = labels.iter().map(|l| l.as_class() as usize).collect(),
                CourseTask::Sts => self.sts = labels.iter().map(|l| f64::from(l.as_score())).collect(),
            }
        }
        Ok(())
    }

    /// The course's scores of `outputs` (tasks without labels, or without predictions, score NaN).
    pub fn score(&self, outputs: &TaskOutputs) -> Scores {
        // A model that does not cover a task predicts none of its examples.
        fn labels<'a, T>(gold: &'a [T], predicted: &[impl Sized]) -> &'a [T] {
            if predicted.is_empty() { &[] } else { gold }
        }
        Scores::compute(
            (&outputs.sst_classes(), labels(&self.sst, &outputs.sst_ids)),
            (&outputs.para_labels(), labels(&self.para, &outputs.para_ids)),
            (&outputs.sts_scores, labels(&self.sts, &outputs.sts_ids)),
        )
    }
}

fn softmax5(logits: &[f32]) -> [f64; 5] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&l| f64::from(l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    std::array::from_fn(|i| exps[i] / sum)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
