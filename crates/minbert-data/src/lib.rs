//! Data for minbert: tokenization, the course's SST / Quora / STS files, custom CSV tasks, and
//! batching into Burn tensors.
//!
//! Reading: [`DataDir::resolve`] finds the course files, [`DataDir::read`] (or
//! [`read_course_file`], [`CustomTask::read`]) gives a [`Dataset`]. Encoding:
//! [`encode_dataset`]. Batching: [`plan_batches`] / [`EncodedDataset::pad`] (plain vectors),
//! then [`PaddedBatch::to_device`]. Statistics: [`data_stats`].

pub mod batch;
pub mod course;
pub mod custom;
pub mod encode;
pub mod error;
pub mod example;
pub mod stats;
pub mod table;
pub mod tokenizer;

pub use batch::{
    Batch, BatchConfig, BatchLabels, DEFAULT_BUCKET_BATCHES, PaddedBatch, PaddedLabels, PaddedSide,
    TensorSide, plan_batches,
};
pub use course::{
    CourseFile, CourseOptions, CourseTask, DataDir, DataDirOrigin, QUORA_TRAIN_PARTIAL, QuoraTrain,
    read_course_file,
};
pub use custom::{CustomTask, CustomTaskSpec};
pub use encode::{EncodedDataset, EncodedExample, PairMode, TokenIds, encode_dataset};
pub use error::{DataError, Result};
pub use example::{Dataset, Example, Label, SkippedRow, Split, TaskKind};
pub use stats::{
    DataStats, LabelStats, LengthStats, MissingSplit, ScoreBin, SplitStats, data_stats, split_stats,
};
pub use table::{LabelColumn, TableSpec, TextTransform, parse_table, read_table};
pub use tokenizer::{BertTokenizer, Encoded, TokenizerError};
