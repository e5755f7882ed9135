//! Examples, labels, task kinds and the result of reading one file.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a task predicts, and so which labels are valid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum TaskKind {
    /// One of `num_labels` classes, written `0 .. num_labels - 1`.
    Classification { num_labels: usize },
    /// 0 or 1 (also written `0.0` / `1.0`, or `false` / `true`).
    Binary,
    /// A real score in `[min, max]`.
    Regression { min: f32, max: f32 },
}

impl TaskKind {
    /// The valid labels, for error messages.
    pub fn expected(&self) -> String {
        match self {
            TaskKind::Classification { num_labels } => {
                format!("an integer from 0 to {}", num_labels.saturating_sub(1))
            }
            TaskKind::Binary => "0 or 1".to_string(),
            TaskKind::Regression { min, max } => format!("a number in [{min}, {max}]"),
        }
    }
}

/// A gold label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Label {
    Class(usize),
    Binary(bool),
    Score(f32),
}

impl Label {
    /// The class index (binary as 0/1; a score truncated, which readers never produce for a
    /// class task).
    pub fn as_class(&self) -> i64 {
        match *self {
            Label::Class(class) => class as i64,
            Label::Binary(positive) => i64::from(positive),
            Label::Score(score) => score as i64,
        }
    }

    /// The value as a regression target (binary as 0/1).
    pub fn as_score(&self) -> f32 {
        match *self {
            Label::Class(class) => class as f32,
            Label::Binary(positive) => f32::from(u8::from(positive)),
            Label::Score(score) => score,
        }
    }
}

/// One record of a task file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    pub id: String,
    pub text: String,
    pub text_pair: Option<String>,
    /// `None` in test files.
    pub label: Option<Label>,
    /// The 1-based physical line of the record in its file (line 1 is the header).
    pub line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A row left out because its label is not a number (e.g. the two Quora dev rows with an empty
/// `is_duplicate`), as the course's reader does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedRow {
    pub path: PathBuf,
    pub line: u64,
    pub id: String,
    pub reason: String,
}

impl fmt::Display for SkippedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: id {:?}: {}",
            self.path.display(),
            self.line,
            self.id,
            self.reason
        )
    }
}

/// The examples of one file, with the rows that were skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Task name: `sst`, `para`, `sts`, or a custom task's name.
    pub task: String,
    pub kind: TaskKind,
    pub path: PathBuf,
    /// Which file was chosen and why, where there was a choice (`quora_train = "auto"`).
    pub note: Option<String>,
    /// Whether examples have a `text_pair` (a sentence-pair task).
    pub paired: bool,
    /// Whether examples have labels (train/dev files; test files have none).
    pub labelled: bool,
    pub examples: Vec<Example>,
    pub skipped: Vec<SkippedRow>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// What a user should know about the file: which one was chosen, and the rows skipped.
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self.note.iter().cloned().collect();
        if let Some(first) = self.skipped.first() {
            notes.push(format!(
                "{}: skipped {} rows without a numeric label (first: line {})",
                self.path.display(),
                self.skipped.len(),
                first.line
            ));
        }
        notes
    }
}
