//! Multitask fine-tuning for minbert: the run config, task and learning-rate schedules, AdamW
//! with global-norm clipping, gradient accumulation and f16 loss scaling, and the trainer that
//! runs it all from a [`TrainConfig`]. The model it trains, its checkpoints and metrics are
//! `minbert-task`'s. [`run_paths`], [`TrainConfig::resolve_paths`] and [`interrupt_on_signals`]
//! set a run up from a command line.

pub mod config;
pub mod data;
mod error;
mod launch;
pub mod mixed;
mod objective;
pub mod optim;
pub mod params;
pub mod progress;
pub mod schedule;
mod state;
pub mod trainer;

pub use config::TrainConfig;
pub use error::{ConfigError, TrainError};
pub use launch::{interrupt_on_signals, run_paths, summary_report};
pub use trainer::{TrainOptions, Trained, train};
