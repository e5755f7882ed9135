//! The trainer on the wgpu backend (lavapipe in CI), on the tiny random BERT: LoRA, DoRA and
//! full fine-tuning lower every task's loss; f16 loss scaling skips overflowing steps.

mod common;

use burn::tensor::DType;
use common::*;
use minbert_testkit::gpu_device;
use minbert_train::train;
use tempfile::TempDir;

#[test]
fn every_mode_lowers_every_task_loss_on_the_gpu() {
    let Some(device) = gpu_device() else { return };
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 24, 8));
    for (mode, lr) in [("lora", "1e-2"), ("dora", "1e-2"), ("full", "3e-3")] {
        let out = dir.path().join(mode);
        // 3 batches per task, 9 steps per epoch: one log line per epoch.
        let config = config(
            &model,
            &data,
            ALL_TASKS,
            &[
                &format!("adapter.mode={mode}"),
                &format!("train.lr={lr}"),
                "train.epochs=5",
                "train.batch_size=8",
                "train.warmup=0.0",
                "train.log_every=9",
                "train.schedule_tasks=round-robin",
            ],
        );
        let trained = run_on(&config, &out, &device);
        assert_eq!(trained.summary.steps, 45);
        let lines = train_lines(&out);
        let loss = |line: usize, task: &str| lines[line]["loss"][task].as_f64().unwrap();
        for task in ["sst", "para", "sts"] {
            let (first, last) = (loss(0, task), loss(4, task));
            println!("{mode} {task}: epoch 1 loss {first:.4}, epoch 5 {last:.4}");
            assert!(last < first, "{mode} {task}: epoch 1 loss {first}, epoch 5 {last}");
        }
        // Quora's pairs come slowly to a random 2-layer encoder; the three together fall fast.
        let total = |line: usize| ["sst", "para", "sts"].map(|t| loss(line, t)).iter().sum::<f64>();
        assert!(
            total(4) < 0.8 * total(0),
            "{mode}: summed loss {} -> {}",
            total(0),
            total(4)
        );
    }
}

#[test]
fn f16_loss_scaling_skips_overflowing_steps_on_the_gpu() {
    let Some(device) = gpu_device() else { return };
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 16, 8));
    let sets = |scale: &'static str| {
        vec![
            "adapter.mode=lora",
            "train.precision=f16",
            "train.max_steps=3",
            "train.batch_size=8",
            "train.log_every=1",
            scale,
        ]
    };
    let overflow = config(&model, &data, ALL_TASKS, &sets("train.loss_scale=1099511627776"));
    if !device.supports_dtype(DType::F16) {
        // Refused at start, naming the key, rather than computed in another precision.
        let err = train(&overflow, &options_on(&dir.path().join("refused"), &device))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("train.precision = \"f16\""), "{err}");
        println!("this adapter has no f16: checked that the trainer refuses it");
        return;
    }
    // 2^40 overflows f16 (max 65504) in every gradient: all three steps are skipped.
    let trained = run_on(&overflow, &dir.path().join("overflow"), &device);
    assert_eq!(trained.summary.skipped_steps, 3);
    assert_eq!(trained.summary.precision.compute, minbert_task::Precision::F16);
    let lora_b = |trained: &minbert_train::Trained| -> Vec<Vec<f32>> {
        values(&trained.model)
            .into_iter()
            .filter(|(p, _)| p.ends_with("lora_b"))
            .map(|(_, v)| v)
            .collect()
    };
    assert!(
        lora_b(&trained).iter().flatten().all(|x| *x == 0.0),
        "a skipped step updated"
    );

    // A sane scale trains.
    let sane = config(&model, &data, ALL_TASKS, &sets("train.loss_scale=256"));
    let trained = run_on(&sane, &dir.path().join("ok"), &device);
    assert_eq!(trained.summary.skipped_steps, 0);
    assert!(lora_b(&trained).iter().all(|v| v.iter().any(|x| *x != 0.0)));
}
