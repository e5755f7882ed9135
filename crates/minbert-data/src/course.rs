//! The CS224N minBERT files (SST, Quora, STS) and where to find them.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::example::{Dataset, Split, TaskKind};
use crate::table::{LabelColumn, TableSpec, TextTransform, read_table};

/// The three tasks of the course. Names match the config sections and prediction files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CourseTask {
    /// Sentiment, Stanford Sentiment Treebank, 5 classes.
    Sst,
    /// Paraphrase detection, Quora Question Pairs, binary.
    #[serde(alias = "quora")]
    Para,
    /// Semantic similarity, STS Benchmark, a score in [0, 5].
    Sts,
}

impl CourseTask {
    pub const ALL: [CourseTask; 3] = [CourseTask::Sst, CourseTask::Para, CourseTask::Sts];

    pub fn name(self) -> &'static str {
        match self {
            CourseTask::Sst => "sst",
            CourseTask::Para => "para",
            CourseTask::Sts => "sts",
        }
    }

    pub fn kind(self) -> TaskKind {
        match self {
            CourseTask::Sst => TaskKind::Classification { num_labels: 5 },
            CourseTask::Para => TaskKind::Binary,
            CourseTask::Sts => TaskKind::Regression { min: 0.0, max: 5.0 },
        }
    }

    /// The course's file name; for Quora train, the full file (see [`QuoraTrain`]).
    pub fn file_name(self, split: Split) -> &'static str {
        match (self, split) {
            (CourseTask::Sst, Split::Train) => "ids-sst-train.csv",
            (CourseTask::Sst, Split::Dev) => "ids-sst-dev.csv",
            (CourseTask::Sst, Split::Test) => "ids-sst-test-student.csv",
            (CourseTask::Para, Split::Train) => "quora-train.csv",
            (CourseTask::Para, Split::Dev) => "quora-dev.csv",
            (CourseTask::Para, Split::Test) => "quora-test-student.csv",
            (CourseTask::Sts, Split::Train) => "sts-train.csv",
            (CourseTask::Sts, Split::Dev) => "sts-dev.csv",
            (CourseTask::Sts, Split::Test) => "sts-test-student.csv",
        }
    }

    /// Columns are looked up by name, as the course's reader does: the SST test file's header
    /// (`0\t\tid\tsentence`) differs from the others.
    pub fn table_spec(self, split: Split, course_preprocessing: bool) -> TableSpec {
        let (text, pair, label) = match self {
            CourseTask::Sst => ("sentence", None, "sentiment"),
            CourseTask::Para => ("sentence1", Some("sentence2"), "is_duplicate"),
            CourseTask::Sts => ("sentence1", Some("sentence2"), "similarity"),
        };
        let text_transform = match (self, course_preprocessing) {
            (CourseTask::Sst, false) => TextTransform::StripLeadingSpace,
            (CourseTask::Sst, true) => TextTransform::CourseLowercaseStrip,
            (_, false) => TextTransform::Verbatim,
            (_, true) => TextTransform::CourseSplitPunctuation,
        };
        TableSpec {
            task: self.name().to_string(),
            kind: self.kind(),
            delimiter: b'\t',
            id_column: Some("id".to_string()),
            text_column: text.to_string(),
            text_pair_column: pair.map(str::to_string),
            label_column: match split {
                Split::Test => LabelColumn::Absent,
                Split::Train | Split::Dev => LabelColumn::Required(label.to_string()),
            },
            text_transform,
            multiline_fields: false,
        }
    }
}

impl fmt::Display for CourseTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CourseTask {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "sst" => Ok(CourseTask::Sst),
            "para" | "quora" => Ok(CourseTask::Para),
            "sts" => Ok(CourseTask::Sts),
            _ => Err(format!("unknown task {s:?}; expected sst, para (or quora) or sts")),
        }
    }
}

/// Which Quora training file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuoraTrain {
    /// `quora-train.csv` where it exists, else the partial file.
    #[default]
    Auto,
    /// `quora-train.csv` only.
    Full,
    /// `partial/quora-train.first-14139-rows.csv` only.
    Partial,
}

pub const QUORA_TRAIN_PARTIAL: &str = "partial/quora-train.first-14139-rows.csv";

impl FromStr for QuoraTrain {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(QuoraTrain::Auto),
            "full" => Ok(QuoraTrain::Full),
            "partial" => Ok(QuoraTrain::Partial),
            _ => Err(format!("unknown quora_train {s:?}; expected auto, full or partial")),
        }
    }
}

/// How to read the course files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CourseOptions {
    pub quora_train: QuoraTrain,
    /// The course's own text preprocessing (lowercasing, spaces before punctuation). Off by
    /// default: the tokenizer does its own normalisation, and texts stay as in the files.
    pub course_preprocessing: bool,
}

/// A course file chosen for a task and split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseFile {
    pub path: PathBuf,
    /// Which file was taken and why, where there was a choice.
    pub note: Option<String>,
}

/// Where a [`DataDir`] came from, in lookup order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataDirOrigin {
    /// `--data-dir` or a config's `data.dir`.
    Explicit,
    /// The `MINBERT_DATA_DIR` environment variable.
    Env,
    /// `data/` in the current directory (the project root), holding the course files.
    ProjectData,
}

impl DataDirOrigin {
    pub fn describe(self) -> &'static str {
        match self {
            DataDirOrigin::Explicit => "--data-dir",
            DataDirOrigin::Env => "MINBERT_DATA_DIR",
            DataDirOrigin::ProjectData => "data/ in the current directory",
        }
    }
}

/// The folder holding the course files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    path: PathBuf,
    origin: DataDirOrigin,
}

impl DataDir {
    pub const ENV_VAR: &'static str = "MINBERT_DATA_DIR";

    /// Resolves the data directory: `explicit` > `MINBERT_DATA_DIR` > `data/` in the current
    /// directory if it holds course files.
    pub fn resolve(explicit: Option<&Path>) -> Result<Self> {
        let env = std::env::var_os(Self::ENV_VAR);
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Self::resolve_from(explicit, env.as_deref(), &cwd)
    }

    /// [`resolve`](Self::resolve) with the environment and current directory given.
    pub fn resolve_from(explicit: Option<&Path>, env: Option<&OsStr>, cwd: &Path) -> Result<Self> {
        let given = explicit
            .map(|p| (p.to_path_buf(), DataDirOrigin::Explicit))
            .or_else(|| {
                env.filter(|v| !v.is_empty())
                    .map(|v| (PathBuf::from(v), DataDirOrigin::Env))
            });
        if let Some((path, origin)) = given {
            let path = cwd.join(path);
            return if path.is_dir() {
                Ok(DataDir {
                    path: tidy(path),
                    origin,
                })
            } else {
                Err(DataError::DataDirNotFound {
                    path,
                    origin: origin.describe(),
                })
            };
        }
        let project = cwd.join("data");
        if holds_course_files(&project) {
            return Ok(DataDir {
                path: tidy(project),
                origin: DataDirOrigin::ProjectData,
            });
        }
        Err(DataError::NoDataDir { tried: project })
    }

    /// A data directory at `path`, taken as given.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        DataDir {
            path: path.into(),
            origin: DataDirOrigin::Explicit,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn origin(&self) -> DataDirOrigin {
        self.origin
    }

    /// The file for `task` and `split`, or a "missing file" error naming the path.
    pub fn course_file(&self, task: CourseTask, split: Split, quora_train: QuoraTrain) -> Result<CourseFile> {
        let full = self.path.join(task.file_name(split));
        if (task, split) != (CourseTask::Para, Split::Train) {
            return if full.is_file() {
                Ok(CourseFile { path: full, note: None })
            } else {
                Err(DataError::MissingFile {
                    hint: missing_hint(task, split, &self.path),
                    path: full,
                })
            };
        }
        let partial = self.path.join(QUORA_TRAIN_PARTIAL);
        let partial_note = "the first 14139 rows (about 10%) of the course's quora-train.csv";
        match quora_train {
            QuoraTrain::Full | QuoraTrain::Auto if full.is_file() => Ok(CourseFile { path: full, note: None }),
            QuoraTrain::Full => Err(DataError::MissingFile {
                path: full,
                hint: format!(
                    "quora_train = \"full\" needs the full file; \"auto\" or \"partial\" takes {QUORA_TRAIN_PARTIAL}"
                ),
            }),
            QuoraTrain::Auto | QuoraTrain::Partial if partial.is_file() => Ok(CourseFile {
                note: Some(match quora_train {
                    QuoraTrain::Auto => format!(
                        "quora_train = \"auto\": {} not found, took {QUORA_TRAIN_PARTIAL}, {partial_note}",
                        full.display()
                    ),
                    _ => format!("quora_train = \"partial\": took {QUORA_TRAIN_PARTIAL}, {partial_note}"),
                }),
                path: partial,
            }),
            QuoraTrain::Auto => Err(DataError::MissingFile {
                hint: format!(
                    "neither quora-train.csv nor {QUORA_TRAIN_PARTIAL} is in {}",
                    self.path.display()
                ),
                path: full,
            }),
            QuoraTrain::Partial => Err(DataError::MissingFile {
                path: partial,
                hint: "quora_train = \"partial\" needs the partial file".to_string(),
            }),
        }
    }

    /// Reads the course file for `task` and `split`.
    pub fn read(&self, task: CourseTask, split: Split, options: &CourseOptions) -> Result<Dataset> {
        let file = self.course_file(task, split, options.quora_train)?;
        let mut dataset = read_course_file(&file.path, task, split, options.course_preprocessing)?;
        dataset.note = file.note;
        Ok(dataset)
    }
}

/// Reads a file in the course's format for `task`; the split says whether it has labels.
pub fn read_course_file(path: &Path, task: CourseTask, split: Split, course_preprocessing: bool) -> Result<Dataset> {
    read_table(path, &task.table_spec(split, course_preprocessing))
}

/// Without `..` steps, so messages show where the files really are.
fn tidy(path: PathBuf) -> PathBuf {
    std::fs::canonicalize(&path).unwrap_or(path)
}

fn holds_course_files(dir: &Path) -> bool {
    CourseTask::ALL
        .iter()
        .flat_map(|task| Split::ALL.map(|split| task.file_name(split)))
        .any(|name| dir.join(name).is_file())
}

fn missing_hint(task: CourseTask, split: Split, dir: &Path) -> String {
    match (task, split) {
        (CourseTask::Para, Split::Test) => format!(
            "the course's quora-test-student.csv is not in {} (see its README); the SST and STS test files do not need it",
            dir.display()
        ),
        _ => format!("expected the course's {} in {}", task.file_name(split), dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_beats_env_and_a_missing_explicit_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let env_dir = dir.path().join("from-env");
        std::fs::create_dir(&env_dir).unwrap();
        let from_env = DataDir::resolve_from(None, Some(env_dir.as_os_str()), dir.path()).unwrap();
        assert_eq!(
            (from_env.path(), from_env.origin()),
            (env_dir.canonicalize().unwrap().as_path(), DataDirOrigin::Env)
        );

        let explicit = DataDir::resolve_from(Some(dir.path()), Some(env_dir.as_os_str()), dir.path()).unwrap();
        assert_eq!(explicit.origin(), DataDirOrigin::Explicit);

        let err = DataDir::resolve_from(Some(Path::new("nope")), None, dir.path()).unwrap_err();
        assert!(matches!(err, DataError::DataDirNotFound { .. }), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn project_data_is_taken_only_when_it_holds_course_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let empty = DataDir::resolve_from(None, None, dir.path()).unwrap_err();
        assert!(matches!(empty, DataError::NoDataDir { .. }), "{empty}");
        assert!(empty.to_string().contains("--data-dir"), "{empty}");

        std::fs::write(
            dir.path().join("data/sts-dev.csv"),
            "\tid\tsentence1\tsentence2\tsimilarity\n",
        )
        .unwrap();
        let project = DataDir::resolve_from(None, None, dir.path()).unwrap();
        assert_eq!(project.origin(), DataDirOrigin::ProjectData);
    }

    #[test]
    fn quora_train_auto_prefers_the_full_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::at(dir.path());
        assert!(matches!(
            data.course_file(CourseTask::Para, Split::Train, QuoraTrain::Auto),
            Err(DataError::MissingFile { .. })
        ));
        std::fs::create_dir(dir.path().join("partial")).unwrap();
        std::fs::write(dir.path().join(QUORA_TRAIN_PARTIAL), "").unwrap();
        let auto = data
            .course_file(CourseTask::Para, Split::Train, QuoraTrain::Auto)
            .unwrap();
        assert!(auto.path.ends_with(QUORA_TRAIN_PARTIAL));
        assert!(auto.note.as_deref().unwrap().contains("not found"));
        assert!(
            data.course_file(CourseTask::Para, Split::Train, QuoraTrain::Full)
                .is_err()
        );

        std::fs::write(dir.path().join("quora-train.csv"), "").unwrap();
        let auto = data
            .course_file(CourseTask::Para, Split::Train, QuoraTrain::Auto)
            .unwrap();
        assert!(auto.path.ends_with("quora-train.csv") && auto.note.is_none());
        let partial = data
            .course_file(CourseTask::Para, Split::Train, QuoraTrain::Partial)
            .unwrap();
        assert!(partial.path.ends_with(QUORA_TRAIN_PARTIAL));
    }
}
