//! The task losses on hand-computed values.

use burn::tensor::{Device, Int, Tensor, TensorData};
use minbert_task::losses::{bce_with_logits, contrastive, cosent, cross_entropy, mse, pearson_loss};

fn dev() -> Device {
    Device::flex()
}

fn t1(v: &[f32]) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &dev())
}

fn col(v: &[f32]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len(), 1]), &dev())
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b}");
}

#[test]
fn losses_match_hand_computed_values() {
    let logits = Tensor::<2>::from_data(TensorData::new(vec![1f32, 2.0, 3.0, 0.0, 0.0], [1, 5]), &dev());
    let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64], [1]), &dev());
    // -log softmax: logsumexp(1, 2, 3, 0, 0) - 3.
    close(
        scalar(cross_entropy(logits.clone(), labels.clone(), 0.0)),
        0.4717451501324086,
        1e-6,
    );
    // PyTorch's label_smoothing = 0.1: 0.9 nll + 0.1 mean(-log p).
    close(scalar(cross_entropy(logits, labels, 0.1)), 0.6517451501324086, 1e-6);
    // Mean of log(1 + e^-2), log(1 + e), log(1 + e^0.5).
    close(
        scalar(bce_with_logits(col(&[2.0, -1.0, 0.5]), t1(&[1.0, 1.0, 0.0]))),
        0.8047555609137674,
        1e-6,
    );
    // Large logits stay finite (the stable form).
    close(
        scalar(bce_with_logits(col(&[100.0, -100.0]), t1(&[1.0, 0.0]))),
        0.0,
        1e-6,
    );
    close(scalar(mse(col(&[1.0, 2.0]), t1(&[0.0, 4.0]))), 2.5, 1e-6);
    // r = 11 / sqrt(5 * 26).
    close(
        scalar(pearson_loss(col(&[1.0, 2.0, 3.0, 4.0]), t1(&[2.0, 4.0, 5.0, 9.0]))),
        0.03523617876226781,
        1e-6,
    );
    // Pairs ranked by target: (1 > 0): 20 (0.1 - 0.5) = -8; (2 > 0): -4; (2 > 1): +4.
    close(
        scalar(cosent(col(&[0.1, 0.5, 0.3]), t1(&[1.0, 2.0, 3.0]), 20.0)),
        4.018485334290705,
        1e-5,
    );
    // Equal targets rank nothing: log(1 + 0).
    close(scalar(cosent(col(&[0.1, 0.5]), t1(&[2.0, 2.0]), 20.0)), 0.0, 1e-6);
    // d = 0.1 (positive): 0.01; d = 0.8 (negative, past the margin): 0; d = 0.3: 0.2^2.
    close(
        scalar(contrastive(col(&[0.9, 0.2, 0.7]), t1(&[1.0, 0.0, 0.0]), 0.5)),
        0.05 / 3.0 / 2.0,
        1e-6,
    );
}
