//! Custom tasks declared in TOML:
//!
//! ```toml
//! name = "sick"
//! train = "sick/train.tsv"       # paths relative to the TOML file; at least one of
//! dev = "sick/dev.tsv"           # train, dev, test
//! test = "sick/test.tsv"         # its label column may be absent
//! delimiter = "\t"               # optional: tab for .tsv files, comma otherwise
//! id = "pair_ID"                 # optional: without it, ids are line numbers
//! text = "sentence_A"
//! text_pair = "sentence_B"       # optional: a sentence-pair task
//! label = "relatedness_score"
//! kind = { type = "regression", min = 1.0, max = 5.0 }
//! # or kind = { type = "classification", num_labels = 3 }, or kind = { type = "binary" }
//! multiline = false              # optional: whether quoted fields may span lines
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::example::{Dataset, Split, TaskKind};
use crate::table::{LabelColumn, TableSpec, TextTransform, read_table};

/// A custom task as written in TOML (also embeddable in a larger config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomTaskSpec {
    pub name: String,
    #[serde(default)]
    pub train: Option<PathBuf>,
    #[serde(default)]
    pub dev: Option<PathBuf>,
    #[serde(default)]
    pub test: Option<PathBuf>,
    #[serde(default)]
    pub delimiter: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    pub text: String,
    #[serde(default)]
    pub text_pair: Option<String>,
    pub label: String,
    pub kind: TaskKind,
    #[serde(default)]
    pub multiline: bool,
}

/// A validated custom task, its paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomTask {
    spec: CustomTaskSpec,
    /// The TOML file (or config) the task came from, for messages.
    source: PathBuf,
    base_dir: PathBuf,
    delimiter: Option<u8>,
}

impl CustomTask {
    /// Reads and validates a task file; relative paths in it are relative to its folder.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => DataError::MissingFile {
                path: path.to_path_buf(),
                hint: "expected a custom task TOML file".to_string(),
            },
            _ => DataError::Io {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|e| DataError::InvalidUtf8 {
            path: path.to_path_buf(),
            line: line_at(&bytes, e.valid_up_to()),
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml_str(text, path, &base_dir)
    }

    /// Parses TOML text; `source` names it in messages, `base_dir` anchors relative paths.
    pub fn from_toml_str(text: &str, source: &Path, base_dir: &Path) -> Result<Self> {
        let spec: CustomTaskSpec = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| line_at(text.as_bytes(), span.start));
            DataError::TaskConfig {
                path: source.to_path_buf(),
                line,
                message: e.message().trim().to_string(),
            }
        })?;
        Self::from_spec(spec, source, base_dir)
    }

    /// Validates a spec that came from elsewhere (a training config).
    pub fn from_spec(spec: CustomTaskSpec, source: &Path, base_dir: &Path) -> Result<Self> {
        let invalid = |key: &str, message: String| DataError::TaskConfigValue {
            path: source.to_path_buf(),
            key: key.to_string(),
            message,
        };
        if spec.name.trim().is_empty() {
            return Err(invalid("name", "expected a non-empty task name".into()));
        }
        if spec.train.is_none() && spec.dev.is_none() && spec.test.is_none() {
            return Err(invalid(
                "train",
                "expected at least one of `train`, `dev`, `test`".into(),
            ));
        }
        let delimiter = match spec.delimiter.as_deref() {
            None => None,
            Some(d) => match d.as_bytes() {
                [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Some(*b),
                _ => {
                    return Err(invalid(
                        "delimiter",
                        format!(
                            "{d:?} is not one ASCII character other than a quote or line end; expected e.g. \"\\t\" or \",\""
                        ),
                    ));
                }
            },
        };
        match spec.kind {
            TaskKind::Classification { num_labels } if num_labels < 2 => {
                return Err(invalid("kind.num_labels", format!("{num_labels}; expected at least 2")));
            }
            TaskKind::Regression { min, max } if !(min.is_finite() && max.is_finite() && min < max) => {
                return Err(invalid(
                    "kind",
                    format!("min {min}, max {max}; expected finite numbers with min < max"),
                ));
            }
            _ => {}
        }
        if spec.text_pair.as_deref() == Some(spec.text.as_str()) {
            return Err(invalid(
                "text_pair",
                format!("{:?} is also `text`; expected another column", spec.text),
            ));
        }
        Ok(CustomTask {
            spec,
            source: source.to_path_buf(),
            base_dir: base_dir.to_path_buf(),
            delimiter,
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn kind(&self) -> TaskKind {
        self.spec.kind
    }

    pub fn spec(&self) -> &CustomTaskSpec {
        &self.spec
    }

    /// The splits this task declares a file for.
    pub fn splits(&self) -> Vec<Split> {
        Split::ALL
            .into_iter()
            .filter(|&split| self.declared(split).is_some())
            .collect()
    }

    fn declared(&self, split: Split) -> Option<&PathBuf> {
        match split {
            Split::Train => self.spec.train.as_ref(),
            Split::Dev => self.spec.dev.as_ref(),
            Split::Test => self.spec.test.as_ref(),
        }
    }

    /// The file of `split`, resolved against the task file's folder.
    pub fn file(&self, split: Split) -> Result<PathBuf> {
        self.declared(split)
            .map(|p| self.base_dir.join(p))
            .ok_or_else(|| DataError::SplitNotDeclared {
                path: self.source.clone(),
                task: self.spec.name.clone(),
                split: split.name(),
            })
    }

    pub fn table_spec(&self, split: Split, file: &Path) -> TableSpec {
        let by_extension = match file.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("tsv") => b'\t',
            _ => b',',
        };
        TableSpec {
            task: self.spec.name.clone(),
            kind: self.spec.kind,
            delimiter: self.delimiter.unwrap_or(by_extension),
            id_column: self.spec.id.clone(),
            text_column: self.spec.text.clone(),
            text_pair_column: self.spec.text_pair.clone(),
            label_column: match split {
                Split::Test => LabelColumn::IfPresent(self.spec.label.clone()),
                Split::Train | Split::Dev => LabelColumn::Required(self.spec.label.clone()),
            },
            text_transform: TextTransform::Verbatim,
            multiline_fields: self.spec.multiline,
        }
    }

    pub fn read(&self, split: Split) -> Result<Dataset> {
        let file = self.file(split)?;
        read_table(&file, &self.table_spec(split, &file))
    }
}

/// The 1-based line of byte `offset`.
fn line_at(bytes: &[u8], offset: usize) -> u64 {
    bytes[..offset.min(bytes.len())].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}
