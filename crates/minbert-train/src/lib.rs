//! Multitask fine-tuning for minbert: the model (one or two BERT encoders, a head per task),
//! losses, task and learning-rate schedules, AdamW with global-norm clipping, gradient
//! accumulation and f16 loss scaling, checkpoints, and the trainer that runs it all from a
//! [`TrainConfig`].

pub mod checkpoint;
pub mod config;
pub mod data;
mod error;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod params;
pub mod predict;
pub mod progress;
pub mod schedule;
pub mod trainer;

pub use checkpoint::{CheckpointMeta, LoadedCheckpoint, load_checkpoint, load_checkpoint_with_base};
pub use config::TrainConfig;
pub use error::TrainError;
pub use metrics::Scores;
pub use model::{ModelSpec, MultitaskModel};
pub use trainer::{RunSummary, TrainOptions, Trained, train};
