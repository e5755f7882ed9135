//! The course data of a run: each configured task's train and dev sets, encoded with the
//! model's tokenizer and the task's pair mode, cut to `data.subset` / `data.dev_subset`.

use minbert_data::{BertTokenizer, CourseOptions, CourseTask, DataDir, EncodedDataset, Split, encode_dataset};

use minbert_task::fingerprint::FileFingerprint;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::TrainError;
use minbert_data::sample::{TRAIN_SUBSET, dev_subset, sample};

/// One task's data.
#[derive(Debug, Clone)]
pub struct TaskData {
    pub task: CourseTask,
    pub train: EncodedDataset,
    pub dev: EncodedDataset,
    /// What a user should know about the files: which Quora file was taken, skipped rows,
    /// subsets.
    pub notes: Vec<String>,
    /// The train and dev files read, by content.
    pub files: Vec<DataFile>,
}

/// A data file a run read: its task and split, its content, and the examples read from it
/// (before any subset). Recorded in `last/state.json`, compared on resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFile {
    pub task: String,
    pub split: String,
    #[serde(flatten)]
    pub file: FileFingerprint,
    pub examples: usize,
}

/// Reads, encodes and subsets the train and dev files of every configured task.
pub fn load_task_data(
    config: &TrainConfig,
    data_dir: &DataDir,
    tokenizer: &BertTokenizer,
) -> Result<Vec<TaskData>, TrainError> {
    let options = CourseOptions {
        quora_train: config.data.quora_train,
        course_preprocessing: config.data.course_preprocessing,
    };
    let mut out = Vec::new();
    for (task, task_config) in config.tasks.enabled() {
        let mut notes = Vec::new();
        let mut encoded = Vec::new();
        let mut files = Vec::new();
        for split in [Split::Train, Split::Dev] {
            let dataset = data_dir.read(task, split, &options)?;
            if dataset.examples.is_empty() {
                return Err(TrainError::NoExamples {
                    task: task.name(),
                    path: dataset.path,
                    skipped: dataset.skipped.len(),
                });
            }
            notes.extend(dataset.notes());
            files.push(DataFile {
                task: task.name().to_string(),
                split: split.name().to_string(),
                file: FileFingerprint::of(&dataset.path)?,
                examples: dataset.examples.len(),
            });
            encoded.push(encode_dataset(&dataset, tokenizer, task_config.pair)?);
        }
        let mut dev = encoded.pop().expect("two splits");
        let mut train = encoded.pop().expect("two splits");
        for (set, n, name) in [
            (&train, config.data.subset, "train"),
            (&dev, config.data.dev_subset, "dev"),
        ] {
            if n > 0 && n < set.len() {
                notes.push(format!(
                    "{}: {name} subset of {n} of {} examples",
                    task.name(),
                    set.len()
                ));
            }
        }
        if config.data.subset > 0 && config.data.subset < train.len() {
            sample(&mut train, config.data.subset, config.train.seed, TRAIN_SUBSET, task);
        }
        dev_subset(&mut dev, config.data.dev_subset, task);
        out.push(TaskData {
            task,
            train,
            dev,
            notes,
            files,
        });
    }
    Ok(out)
}
