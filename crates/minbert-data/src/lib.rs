//! Data for minbert: tokenization, the course's SST / Quora / STS files, custom CSV tasks, and
//! batching into Burn tensors.
//!
//! Reading: [`DataDir::resolve`] finds the course files, [`DataDir::read`] (or
//! [`read_course_file`], [`CustomTask::read`]) gives a [`Dataset`]. Encoding:
//! [`encode_dataset`]. Batching: [`plan_batches`] / [`EncodedDataset::pad`] (plain vectors),
//! then [`PaddedBatch::to_device`]. Statistics: [`data_stats`].
//!
//! Reading rules (course files and custom tasks alike):
//! - columns are found by header name; a UTF-8 BOM and CRLF line ends are accepted;
//! - texts are kept byte for byte, except the one leading space of the SST sentences
//!   ([`CourseOptions::course_preprocessing`] turns on the course's lowercasing and spacing);
//! - a row whose label is not a number (empty, text, NaN) is skipped and listed with its file
//!   and line in [`Dataset::skipped`];
//! - every other defect is a [`DataError`] naming the file and line: a missing column, an
//!   empty file, a header without rows ([`DataError::NoRecords`], not an empty dataset),
//!   invalid UTF-8, an unterminated quote (a quoted field not closed on its line, unless a
//!   custom task sets `multiline`), a wrong number of fields, a label out of range, an empty or
//!   repeated id.

pub mod batch;
pub mod course;
pub mod custom;
pub mod encode;
pub mod error;
pub mod example;
pub mod sample;
pub mod stats;
pub mod table;
pub mod tokenizer;

pub use batch::{
    Batch, BatchConfig, BatchLabels, DEFAULT_BUCKET_BATCHES, PaddedBatch, PaddedLabels, PaddedSide, TensorSide,
    plan_batches,
};
pub use course::{
    CourseFile, CourseOptions, CourseTask, DataDir, DataDirOrigin, QUORA_TRAIN_PARTIAL, QuoraTrain, read_course_file,
};
pub use custom::{CustomTask, CustomTaskSpec};
pub use encode::{EncodedDataset, EncodedExample, PairMode, TokenIds, encode_dataset};
pub use error::{DataError, Result};
pub use example::{Dataset, Example, Label, SkippedRow, Split, TaskKind};
pub use stats::{DataStats, LabelStats, LengthStats, MissingSplit, ScoreBin, SplitStats, data_stats, split_stats};
pub use table::{LabelColumn, TableSpec, TextTransform, parse_table, read_table};
pub use tokenizer::{BertTokenizer, Encoded, TokenizerError};
