//! The one error type of the crate. Every message names the file (and the line or key) and
//! what was expected, so a CLI can print it as a single line.

use std::path::PathBuf;

use crate::tokenizer::TokenizerError;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("missing file {}: {hint}", path.display())]
    MissingFile { path: PathBuf, hint: String },

    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{}: the file is empty; expected a header line", path.display())]
    EmptyFile { path: PathBuf },

    /// A file with a header and no data rows is an error rather than an empty dataset: every
    /// consumer needs examples, and an empty split usually means a truncated or wrong file.
    #[error("{}: no data rows after the header on line {header_line}; expected at least one", path.display())]
    NoRecords { path: PathBuf, header_line: u64 },

    #[error(
        "{}:{line}: no column named {column:?} (delimiter {delimiter:?}); the header has {found:?}",
        path.display()
    )]
    MissingColumn {
        path: PathBuf,
        line: u64,
        column: String,
        delimiter: char,
        found: Vec<String>,
    },

    #[error("{}:{line}: column {column:?} appears twice in the header; expected unique names", path.display())]
    DuplicateColumn { path: PathBuf, line: u64, column: String },

    #[error("{}:{line}: invalid UTF-8; expected UTF-8 text", path.display())]
    InvalidUtf8 { path: PathBuf, line: u64 },

    #[error("{}:{line}: the quoted field opened on this line is not closed {where_}; expected a closing '\"'", path.display())]
    UnterminatedQuote {
        path: PathBuf,
        line: u64,
        where_: &'static str,
    },

    #[error("{}:{line}: {found} fields; expected {expected} as in the header", path.display())]
    FieldCount {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
    },

    #[error("{}:{line}: label {value:?} in column {column:?} is out of range; expected {expected}", path.display())]
    LabelOutOfRange {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
        expected: String,
    },

    #[error("{}:{line}: empty id in column {column:?}; expected an id on every row", path.display())]
    EmptyId { path: PathBuf, line: u64, column: String },

    #[error("{}:{line}: id {id:?} is already used on line {first_line}; expected unique ids", path.display())]
    DuplicateId {
        path: PathBuf,
        line: u64,
        id: String,
        first_line: u64,
    },

    #[error("{}:{line}: {message}", path.display())]
    Csv { path: PathBuf, line: u64, message: String },

    #[error("data directory {} (from {origin}) is not a directory", path.display())]
    DataDirNotFound { path: PathBuf, origin: &'static str },

    #[error(
        "no course data: {} holds none of the course files; run from the project folder, or \
         pass --data-dir DIR (or set MINBERT_DATA_DIR)",
        tried.display()
    )]
    NoDataDir { tried: PathBuf },

    #[error("{}:{line}: {message}", path.display())]
    TaskConfig { path: PathBuf, line: u64, message: String },

    #[error("{}: key `{key}`: {message}", path.display())]
    TaskConfigValue {
        path: PathBuf,
        key: String,
        message: String,
    },

    #[error("{}: task {task:?} has no `{split}` file; expected the key `{split}`", path.display())]
    SplitNotDeclared {
        path: PathBuf,
        task: String,
        split: &'static str,
    },

    #[error("{}:{line}: cannot tokenize example {id:?}: {source}", path.display())]
    Tokenize {
        path: PathBuf,
        line: u64,
        id: String,
        source: TokenizerError,
    },

    #[error("invalid batching setting {key}: {message}")]
    Batching { key: &'static str, message: String },
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
