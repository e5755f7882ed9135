//! minbert's task model and its files: the multitask model (one or two BERT encoders, a head
//! per course task, pooling) and its losses; the checkpoint and run-directory formats that the
//! trainer writes and evaluation reads; the course's metrics; inference over whole datasets;
//! exporting an encoder with its adapter; durations as progress lines print them.

pub mod checkpoint;
mod duration;
mod error;
pub mod export;
pub mod files;
pub mod fingerprint;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod predict;
pub mod run;
pub mod spec;

pub use checkpoint::{CheckpointMeta, ChosenBase, LoadedCheckpoint, load_checkpoint, load_checkpoint_with_base};
pub use duration::format_duration;
pub use error::TaskError;
pub use metrics::{Metric, Scores};
pub use model::{ModelSpec, MultitaskModel};
pub use run::{MetricsLine, RunSummary};
pub use spec::{AdapterConfig, HeadKind, Loss, Mode, Pooling, Precision, Targets};
