//! The pieces of a training step on hand-computed cases: global-norm clipping, loss scaling, AdamW, task and learning-rate schedules, trainable-parameter rules.

use burn::module::Param;
use burn::nn::LinearConfig;
use burn::tensor::{Device, Tensor, TensorData};
use minbert_task::Mode;
use minbert_train::config::{LrSchedule, TaskSchedule};
use minbert_train::optim::{AdamW, LossScaler, accumulate, clip_to, global_norm};
use minbert_train::params::ParamMap;
use minbert_train::schedule::{anneal_alpha, epoch_tasks, learning_rate, lowest_thawed_layer};
use minbert_train::trainer::is_trainable;

fn dev() -> Device {
    Device::flex()
}

fn t1(v: &[f32]) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &dev())
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b}");
}

fn grads(entries: &[(&str, &[f32])]) -> ParamMap {
    entries.iter().map(|(k, v)| (k.to_string(), t1(v))).collect()
}

fn values(map: &ParamMap, key: &str) -> Vec<f32> {
    map[key].clone().into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn global_norm_clipping_scales_all_gradients_together() {
    // sqrt(3^2 + 4^2 + 12^2) = 13.
    let mut g = grads(&[("a", &[3.0, 4.0]), ("b", &[12.0])]);
    assert_eq!(global_norm(&g), 13.0);
    clip_to(&mut g, 13.0, 6.5);
    let f = 6.5 / (13.0 + 1e-6);
    for (got, want) in values(&g, "a").iter().zip([3.0 * f, 4.0 * f]) {
        close(f64::from(*got), want, 1e-6);
    }
    close(f64::from(values(&g, "b")[0]), 12.0 * f, 1e-6);
    close(global_norm(&g), 6.5, 1e-5);
    // Per-tensor clipping would have left "a" (norm 5) alone and cut "b" to 6.5; this keeps
    // the direction: a / b stays 3 / 12.
    close(f64::from(values(&g, "a")[0] / values(&g, "b")[0]), 0.25, 1e-6);
    // Under the limit nothing changes.
    let mut g = grads(&[("a", &[3.0, 4.0])]);
    assert_eq!(global_norm(&g), 5.0);
    clip_to(&mut g, 5.0, 20.0);
    assert_eq!(values(&g, "a"), [3.0, 4.0]);
    // An overflow shows as a non-finite norm.
    assert!(!global_norm(&grads(&[("a", &[1.0, f32::INFINITY])])).is_finite());
}

#[test]
fn accumulation_sums_per_parameter() {
    let mut sum = grads(&[("a", &[1.0, 2.0])]);
    accumulate(&mut sum, grads(&[("a", &[0.5, 0.5]), ("b", &[3.0])]));
    assert_eq!(values(&sum, "a"), [1.5, 2.5]);
    assert_eq!(values(&sum, "b"), [3.0]);
}

#[test]
fn loss_scaler_halves_on_overflow_and_grows_after_good_steps() {
    let mut s = LossScaler::new(1024.0);
    s.growth_interval = 3;
    assert!(!s.update(false));
    assert_eq!((s.scale, s.skipped_steps), (512.0, 1));
    assert!(s.update(true) && s.update(true));
    assert_eq!(s.scale, 512.0);
    assert!(s.update(true));
    assert_eq!((s.scale, s.good_steps), (1024.0, 0));
}

#[test]
fn adamw_matches_pytorch_by_hand() {
    let device = Device::flex().autodiff();
    let mut linear = LinearConfig::new(1, 1).init(&device);
    linear.weight = Param::from_tensor(Tensor::from_data(TensorData::new(vec![1f32], [1, 1]), &device));
    linear.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![1f32], [1]),
        &device,
    )));
    let mut optim = AdamW::new(0.9, 0.999, 1e-8);
    let g = grads(&[("weight", &[0.5]), ("bias", &[0.5])]);
    let hyper = |_: &str| (0.1, 0.01);
    // Step 1: m_hat = 0.5, v_hat = 0.25, update 1; the matrix decays by lr * wd, the bias not.
    let (linear, updated) = optim.step(linear, g.clone(), hyper);
    close(
        f64::from(values(&updated, "weight")[0]),
        1.0 * (1.0 - 0.001) - 0.1,
        1e-6,
    );
    close(f64::from(values(&updated, "bias")[0]), 0.9, 1e-6);
    // Step 2, same gradient: bias-corrected moments are the same again.
    let (linear, updated) = optim.step(linear, g.clone(), hyper);
    close(f64::from(values(&updated, "weight")[0]), 0.899 * 0.999 - 0.1, 1e-6);
    assert!(linear.weight.val().is_require_grad());
    // The state round-trips through its tensors.
    let mut restored = AdamW::new(0.9, 0.999, 1e-8);
    let sizes = [("weight".to_string(), 1), ("bias".to_string(), 1)]
        .into_iter()
        .collect();
    restored.load_state(optim.state_tensors(), &sizes, &device).unwrap();
    assert_eq!(restored.state_tensors(), optim.state_tensors());
    let err = restored
        .load_state(
            optim.state_tensors(),
            &[("weight".to_string(), 1)].into_iter().collect(),
            &device,
        )
        .unwrap_err();
    assert!(err.contains("\"bias\""), "{err}");
}

fn counts(order: &[usize], tasks: usize) -> Vec<usize> {
    (0..tasks).map(|t| order.iter().filter(|&&x| x == t).count()).collect()
}

#[test]
fn task_schedules_visit_tasks_in_the_configured_proportions() {
    let batches = [3, 5, 2];
    assert_eq!(
        epoch_tasks(TaskSchedule::Sequential, &batches, 0, 3, 1),
        [0, 0, 0, 1, 1, 1, 1, 1, 2, 2]
    );
    assert_eq!(
        epoch_tasks(TaskSchedule::RoundRobin, &batches, 0, 3, 1),
        [0, 1, 2, 0, 1, 2, 0, 1, 1, 1]
    );
    // Proportional: each task exactly its pass, in a seeded order that changes per epoch.
    let big = [300, 500, 200];
    let e0 = epoch_tasks(TaskSchedule::Proportional, &big, 0, 3, 1);
    assert_eq!(counts(&e0, 3), big);
    assert_eq!(e0, epoch_tasks(TaskSchedule::Proportional, &big, 0, 3, 1));
    assert_ne!(e0, epoch_tasks(TaskSchedule::Proportional, &big, 1, 3, 1));
    assert_ne!(e0, epoch_tasks(TaskSchedule::Proportional, &big, 0, 3, 2));
    // Proportional means mixed, not blocks: each tenth of the epoch holds every task.
    assert!(e0.chunks(100).all(|c| counts(c, 3).iter().all(|&n| n > 0)));
    // Annealed: shares proportional to size^alpha, alpha 1 at the first epoch, 0.2 at the last.
    let sizes = [1000usize, 4000, 250];
    for (epoch, alpha) in [(0, 1.0), (2, 0.6), (4, 0.2)] {
        close(anneal_alpha(epoch, 5), alpha, 1e-12);
        let order = epoch_tasks(TaskSchedule::Annealed, &sizes, epoch, 5, 7);
        assert_eq!(order.len(), 5250);
        let weights: Vec<f64> = sizes.iter().map(|&n| (n as f64).powf(alpha)).collect();
        let total: f64 = weights.iter().sum();
        for (t, n) in counts(&order, 3).into_iter().enumerate() {
            let p = weights[t] / total;
            let expected = p * 5250.0;
            let sd = (5250.0 * p * (1.0 - p)).sqrt();
            assert!(
                (n as f64 - expected).abs() < 4.0 * sd,
                "epoch {epoch}: task {t} drawn {n} times, expected {expected:.0}"
            );
        }
    }
}

#[test]
fn learning_rate_warms_up_then_decays() {
    let lr = |s, step| learning_rate(s, 1.0, step, 2, 10);
    assert_eq!((lr(LrSchedule::Linear, 0), lr(LrSchedule::Linear, 1)), (0.5, 1.0));
    assert_eq!(lr(LrSchedule::Linear, 2), 1.0);
    assert_eq!(lr(LrSchedule::Linear, 6), 0.5);
    close(lr(LrSchedule::Cosine, 6), 0.5, 1e-12);
    close(
        lr(LrSchedule::Cosine, 4),
        0.5 * (1.0 + (std::f64::consts::PI / 4.0).cos()),
        1e-12,
    );
    assert_eq!(lr(LrSchedule::Constant, 9), 1.0);
    assert_eq!(learning_rate(LrSchedule::Linear, 1.0, 0, 0, 4), 1.0);
}

#[test]
fn progressive_unfreezing_and_modes_pick_the_trainable_parameters() {
    assert_eq!(
        (0..4).map(|e| lowest_thawed_layer(2, 6, e)).collect::<Vec<_>>(),
        [Some(6), Some(4), Some(2), None]
    );
    assert_eq!(lowest_thawed_layer(0, 6, 0), None);
    let q = "encoders.0.encoder.layer.4.attention.self_.query";
    let base = format!("{q}.base.weight");
    let lora = format!("{q}.adapter.lora_a");
    let emb = "encoders.1.embeddings.word_embeddings.weight";
    for (mode, train_base, path, lowest, expected) in [
        (Mode::Heads, false, "sst.out.weight", None, true),
        (Mode::Heads, false, base.as_str(), None, false),
        (Mode::Full, false, base.as_str(), None, true),
        (Mode::Full, false, emb, None, true),
        (Mode::Full, false, emb, Some(2), false),
        (Mode::Full, false, base.as_str(), Some(4), true),
        (Mode::Full, false, base.as_str(), Some(5), false),
        (Mode::Lora, false, base.as_str(), None, false),
        (Mode::Lora, false, lora.as_str(), None, true),
        (Mode::Lora, false, lora.as_str(), Some(6), false),
        (Mode::Dora, true, base.as_str(), None, true),
        (Mode::Lora, false, "sts.dense.bias", Some(6), true),
        (Mode::Lora, false, "ssthead.weight", None, false),
    ] {
        assert_eq!(
            is_trainable(mode, train_base, lowest, path),
            expected,
            "{mode:?} train_base {train_base} {path} {lowest:?}"
        );
    }
}
