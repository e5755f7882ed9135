//! The task losses, each a mean over the batch returned as a one-element tensor. Inputs are f32
//! (outputs are cast up before the loss, so half-precision runs sum in f32).

use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Int, Tensor};

/// Cross-entropy of logits `[batch, classes]` against class indices `[batch]`, with PyTorch's
/// label smoothing: the target puts `1 - eps` on the label and `eps / classes` on every class.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>, label_smoothing: f64) -> Tensor<1> {
    let [batch, _] = logits.dims();
    let log_probs = log_softmax(logits, 1);
    let nll = log_probs.clone().gather(1, labels.reshape([batch, 1])).neg().mean();
    if label_smoothing == 0.0 {
        return nll;
    }
    let uniform = log_probs.mean_dim(1).neg().mean();
    nll * (1.0 - label_smoothing) + uniform * label_smoothing
}

/// Binary cross-entropy with logits `[batch, 1]` against 0/1 targets `[batch]`, in the stable
/// form `max(x, 0) - x y + log(1 + exp(-|x|))`.
pub fn bce_with_logits(logits: Tensor<2>, targets: Tensor<1>) -> Tensor<1> {
    let x = logits.flatten::<1>(0, 1);
    (relu(x.clone()) - x.clone() * targets + x.abs().neg().exp().log1p()).mean()
}

/// Mean squared error of `[batch, 1]` predictions.
pub fn mse(predictions: Tensor<2>, targets: Tensor<1>) -> Tensor<1> {
    (predictions.flatten::<1>(0, 1) - targets).square().mean()
}

/// `1 - r`, Pearson's correlation of predictions `[batch, 1]` and targets over the batch.
pub fn pearson_loss(predictions: Tensor<2>, targets: Tensor<1>) -> Tensor<1> {
    let x = predictions.flatten::<1>(0, 1);
    let dx = x.clone() - x.mean();
    let dy = targets.clone() - targets.mean();
    let r = (dx.clone() * dy.clone()).sum() / ((dx.square().sum() * dy.square().sum()).sqrt() + 1e-8);
    r.neg() + 1.0
}

/// CoSENT (Su, 2022): `log(1 + sum over pairs with target_i > target_j of
/// exp(scale (s_j - s_i)))`: every pair ranked against its targets costs.
pub fn cosent(scores: Tensor<2>, targets: Tensor<1>, scale: f64) -> Tensor<1> {
    let [batch, _] = scores.dims();
    let s = scores.flatten::<1>(0, 1);
    // diff[i][j] = scale (s_j - s_i), kept where target_i > target_j.
    let diff = (s.clone().reshape([1, batch]) - s.reshape([batch, 1])).mul_scalar(scale);
    let ranked = targets.clone().reshape([batch, 1]).greater(targets.reshape([1, batch]));
    let terms = diff.mask_fill(ranked.bool_not(), -1e12).flatten::<1>(0, 1);
    // log(exp(0) + sum exp(terms)), shifted by the maximum for stability.
    let device = terms.device();
    let all = Tensor::cat(vec![Tensor::<1>::zeros([1], (&device, terms.dtype())), terms], 0);
    let max = all.clone().max().detach();
    (all - max.clone()).exp().sum().log() + max
}

/// Contrastive loss on the cosine distance `d = 1 - cos` (sentence-transformers'
/// `ContrastiveLoss`): `(y d^2 + (1 - y) max(margin - d, 0)^2) / 2`.
pub fn contrastive(cosines: Tensor<2>, targets: Tensor<1>, margin: f64) -> Tensor<1> {
    let d = cosines.flatten::<1>(0, 1).neg() + 1.0;
    let positive = targets.clone() * d.clone().square();
    let negative = (targets.neg() + 1.0) * relu(d.neg() + margin).square();
    (positive + negative).mean() * 0.5
}
