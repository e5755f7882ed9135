//! The course's prediction files, byte for byte: a header `id \t Predicted_X \n`, then one line
//! `{id} , {prediction} \n` per example (`sst-dev-output.csv`, `para-dev-output.csv`,
//! `sts-dev-output.csv` and the `-test-` ones; "Similiary" is the course's spelling).

use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::EvalError;
use crate::ensemble::TaskOutputs;

/// Which of the three prediction files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionTask {
    Sst,
    Para,
    Sts,
}

impl PredictionTask {
    pub const ALL: [Self; 3] = [Self::Sst, Self::Para, Self::Sts];

    pub fn file_name(self, split: &str) -> String {
        let stem = match self {
            Self::Sst => "sst",
            Self::Para => "para",
            Self::Sts => "sts",
        };
        format!("{stem}-{split}-output.csv")
    }

    pub fn column(self) -> &'static str {
        match self {
            Self::Sst => "Predicted_Sentiment",
            Self::Para => "Predicted_Is_Paraphrase",
            Self::Sts => "Predicted_Similiary",
        }
    }

    fn header(self) -> String {
        format!("id \t {} \n", self.column())
    }
}

/// Renders a prediction file; `predictions` are `(id, value)` in file order.
pub fn render<V: Display>(task: PredictionTask, predictions: &[(String, V)]) -> String {
    let mut out = task.header();
    for (id, value) in predictions {
        out += &format!("{id} , {value} \n");
    }
    out
}

/// Writes a prediction file durably (a unique temporary name, fsynced, then a rename).
pub fn write<V: Display>(path: &Path, task: PredictionTask, predictions: &[(String, V)]) -> Result<(), EvalError> {
    Ok(durable_fs::write_file(path, render(task, predictions).as_bytes())?)
}

/// Reads a prediction file back: `(id, value)` per line, values parsed as f64.
pub fn read(path: &Path, task: PredictionTask) -> Result<Vec<(String, f64)>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let bad = |line: usize, message: String| EvalError::PredictionFile {
        path: PathBuf::from(path),
        line,
        message,
    };
    let mut lines = text.split_inclusive('\n');
    match lines.next() {
        Some(h) if h == task.header() => {}
        Some(h) => return Err(bad(1, format!("header is {h:?}, expected {:?}", task.header()))),
        None => return Err(bad(1, "empty file, expected a header".into())),
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let body = line
                .strip_suffix(" \n")
                .ok_or_else(|| bad(i + 2, "line does not end with \" \\n\"".into()))?;
            let (id, value) = body
                .split_once(" , ")
                .ok_or_else(|| bad(i + 2, "expected \"{id} , {value}\"".into()))?;
            let value = value
                .parse()
                .map_err(|_| bad(i + 2, format!("{value:?} is not a number")))?;
            Ok((id.to_string(), value))
        })
        .collect()
}

/// Replaces the folder `dir` (or creates it) with one holding the prediction file of every
/// task that `outputs` covers, named for `split`: SST classes, Quora labels (probability above
/// 0.5), STS scores. The swap is whole (`durable_fs::replace_dir`): no file of what `dir` held
/// before is left beside them, and a crash leaves the old folder. Returns the paths written.
pub fn write_outputs(dir: &Path, split: &str, outputs: &TaskOutputs) -> Result<Vec<PathBuf>, EvalError> {
    let pairs = |ids: &[String], values: Vec<String>| ids.iter().cloned().zip(values).collect::<Vec<_>>();
    let files = [
        (
            PredictionTask::Sst,
            pairs(
                &outputs.sst_ids,
                outputs.sst_classes().iter().map(usize::to_string).collect(),
            ),
        ),
        (
            PredictionTask::Para,
            pairs(
                &outputs.para_ids,
                outputs.para_labels().iter().map(usize::to_string).collect(),
            ),
        ),
        (
            PredictionTask::Sts,
            pairs(
                &outputs.sts_ids,
                outputs.sts_scores.iter().map(f64::to_string).collect(),
            ),
        ),
    ];
    let files: Vec<_> = files.into_iter().filter(|(_, p)| !p.is_empty()).collect();
    durable_fs::replace_dir(dir, |tmp| {
        files
            .iter()
            .try_for_each(|(task, predictions)| write(&tmp.join(task.file_name(split)), *task, predictions))
    })?;
    Ok(files.iter().map(|(task, _)| dir.join(task.file_name(split))).collect())
}
