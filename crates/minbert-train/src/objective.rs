//! Each task's configured loss on the model's output.

use burn::tensor::{DType, Tensor};
use minbert_data::{BatchLabels, CourseTask};
use minbert_task::losses::{bce_with_logits, contrastive, cosent, cross_entropy, mse, pearson_loss};
use minbert_task::{HeadKind, Loss};

use crate::config::TaskConfig;

/// The configured loss of `task` on the model's raw output `[batch, k]`, in f32.
pub fn task_loss(task: CourseTask, config: &TaskConfig, output: Tensor<2>, labels: &BatchLabels) -> Tensor<1> {
    let output = output.cast(DType::F32);
    let loss = config.loss(task);
    match (loss, labels) {
        (Loss::Ce, BatchLabels::Classes(classes)) => cross_entropy(output, classes.clone(), config.label_smoothing),
        (_, BatchLabels::Classes(classes)) => {
            let targets = classes.clone().float().cast(DType::F32);
            match loss {
                Loss::Contrastive => contrastive(output, targets, config.margin),
                _ => bce_with_logits(output, targets),
            }
        }
        (_, BatchLabels::Scores(scores)) => {
            let scores = scores.clone().cast(DType::F32);
            // A cosine head predicts a cosine: its targets are the 0-5 scores over 5.
            let targets = if config.head == HeadKind::Cosine {
                scores / 5.0
            } else {
                scores
            };
            match loss {
                Loss::Pearson => pearson_loss(output, targets),
                Loss::Cosent => cosent(output, targets, config.cosent_scale),
                _ => mse(output, targets),
            }
        }
    }
}
