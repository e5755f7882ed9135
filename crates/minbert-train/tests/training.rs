//! The trainer end to end on a tiny random BERT: loss goes down, checkpoints reload, resuming
//! is exact, each mode trains what it should, f16 loss scaling skips overflowing steps.

mod common;

use std::collections::BTreeMap;

use burn::tensor::Device;
use common::*;
use minbert_data::CourseTask;
use minbert_task::load_checkpoint;
use minbert_task::predict::evaluate;
use minbert_train::{TrainOptions, train};
use tempfile::TempDir;

#[test]
fn a_tiny_run_lowers_every_task_loss_and_writes_best_and_last() {
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 24, 16));
    let out = dir.path().join("run");
    // 3 batches per task, 9 steps per epoch: one log line per epoch.
    let tasks = "[tasks.sst]\nhead = \"mlp\"\n[tasks.para]\n[tasks.sts]\npair = \"separate\"\n";
    let config = config(
        &model,
        &data,
        tasks,
        &[
            "adapter.mode=full",
            "train.epochs=10",
            "train.batch_size=8",
            "train.lr=3e-3",
            "train.warmup=0.0",
            "train.log_every=9",
            "train.schedule_tasks=round-robin",
        ],
    );
    let trained = run(&config, &out);
    let lines = train_lines(&out);
    assert_eq!(lines.len(), 10);
    for task in ["sst", "para", "sts"] {
        let (first, last) = (
            lines[0]["loss"][task].as_f64().unwrap(),
            lines[9]["loss"][task].as_f64().unwrap(),
        );
        eprintln!("{task}: epoch 1 loss {first:.4}, epoch 10 {last:.4}");
        assert!(last < 0.8 * first, "{task}: epoch 1 loss {first}, epoch 10 {last}");
    }
    let summary = &trained.summary;
    assert_eq!(
        (summary.status.as_str(), summary.steps, summary.epochs),
        ("completed", 90, 10)
    );
    assert_eq!(summary.examples["sst"], 10 * 24);
    for file in [
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "best/meta.json",
        "best/model.safetensors",
        "best/heads.safetensors",
        "last/meta.json",
        "last/model.safetensors",
        "last/heads.safetensors",
        "last/optimizer.safetensors",
        "last/state.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert!(!out.join("best/optimizer.safetensors").exists() && !out.join("best/adapter").exists());

    // best/ reloads into the model that scored what its meta.json says.
    let device = Device::flex();
    let best = load_checkpoint(&out.join("best"), &device).unwrap();
    let best_info = summary.best.as_ref().unwrap();
    // JSON keeps 17 significant digits: equal to 1e-12.
    assert_close(&best.meta.scores.unwrap(), &best_info.scores);
    assert_eq!(best.meta.params, summary.params);
    assert_eq!(best.meta.params.trainable, best.meta.params.total);
    let tasks =
        minbert_train::data::load_task_data(&config, &minbert_data::DataDir::at(&data), &tokenizer(&model)).unwrap();
    let dev: Vec<_> = tasks.iter().map(|t| (t.task, &t.dev)).collect();
    assert_close(&evaluate(&best.model, &dev, 16), &best_info.scores);
    // last/ is the model train() returned.
    let last = load_checkpoint(&out.join("last"), &device).unwrap();
    assert_same_values(&values(&last.model), &values(&trained.model), "last/ vs trained");
    // A second run into the same folder is refused.
    let err = train(&config, &options(&out)).err().unwrap().to_string();
    assert!(err.contains("already holds a run"), "{err}");
}

fn assert_close(a: &minbert_task::Scores, b: &minbert_task::Scores) {
    let (a, b) = (serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
    for (key, x) in a.as_object().unwrap() {
        let (x, y) = (x.as_f64().unwrap_or(f64::NAN), b[key].as_f64().unwrap_or(f64::NAN));
        assert!((x - y).abs() < 1e-12 || (x.is_nan() && y.is_nan()), "{key}: {x} vs {y}");
    }
}

fn tokenizer(model: &std::path::Path) -> minbert_data::BertTokenizer {
    minbert_data::BertTokenizer::from_dir(model)
        .unwrap()
        .with_max_len(32)
        .unwrap()
}

#[test]
fn resuming_from_last_gives_the_uninterrupted_parameters() {
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 20, 8));
    // Dropout everywhere (encoder, adapters, heads), accumulation, a random task order, and a
    // pause in the middle of an epoch with a partial pass of each task.
    let config = config(
        &model,
        &data,
        ALL_TASKS,
        &[
            "adapter.mode=lora",
            "adapter.r=4",
            "adapter.dropout=0.1",
            "adapter.targets=all-linear",
            "train.epochs=2",
            "train.batch_size=6",
            "train.grad_accum=2",
            "train.lr=1e-3",
            "train.schedule_tasks=proportional",
        ],
    );
    let whole = run(&config, &dir.path().join("whole"));
    assert_eq!(whole.summary.steps, 12);

    let out = dir.path().join("paused");
    let mut opts = options(&out);
    opts.pause_at_step = Some(4);
    let paused = train(&config, &opts).unwrap();
    assert_eq!((paused.summary.status.as_str(), paused.summary.steps), ("paused", 4));
    assert!(!out.join("summary.json").exists());
    let resumed = train(
        &config,
        &TrainOptions {
            resume: true,
            pause_at_step: None,
            ..opts
        },
    )
    .unwrap();
    assert_eq!(resumed.summary.steps, 12);
    assert_same_values(&values(&resumed.model), &values(&whole.model), "resumed vs whole");
    assert_eq!(
        std::fs::read(out.join("last/optimizer.safetensors")).unwrap(),
        std::fs::read(dir.path().join("whole/last/optimizer.safetensors")).unwrap()
    );
    assert_eq!(resumed.summary.examples, whole.summary.examples);
    assert_eq!(train_lines(&out).len(), train_lines(&dir.path().join("whole")).len());

    // Resuming under another config is refused, naming the key.
    let other = common::config(&model, &data, ALL_TASKS, &["adapter.mode=lora", "train.epochs=3"]);
    let err = train(
        &other,
        &TrainOptions {
            resume: true,
            ..options(&out)
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("train.epochs"), "{err}");
}

/// Parameters by path, split into (encoder base, adapters, heads).
fn groups(values: Vec<(String, Vec<f32>)>) -> [BTreeMap<String, Vec<f32>>; 3] {
    let mut out: [BTreeMap<String, Vec<f32>>; 3] = Default::default();
    for (path, v) in values {
        let group = if path.contains(".adapter.") {
            1
        } else if path.starts_with("encoders.") {
            0
        } else {
            2
        };
        out[group].insert(path, v);
    }
    out
}

#[test]
fn each_mode_trains_what_it_should() {
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 16, 8));
    let device = Device::flex();
    let (_, base) = minbert_model::load_pretrained(&model, &device).unwrap();
    let base: BTreeMap<String, Vec<f32>> = values(&base)
        .into_iter()
        .map(|(p, v)| (format!("encoders.0.{p}"), v))
        .collect();
    for mode in ["heads", "full", "lora", "dora"] {
        let out = dir.path().join(mode);
        let config = config(
            &model,
            &data,
            ALL_TASKS,
            &[
                &format!("adapter.mode={mode}"),
                "train.max_steps=4",
                "train.batch_size=8",
                "train.lr=1e-2",
            ],
        );
        // The model after step 1, then (resumed) after step 4: what moved in between trains.
        let mut opts = options(&out);
        opts.pause_at_step = Some(1);
        let first = train(&config, &opts).unwrap();
        let trained = train(
            &config,
            &TrainOptions {
                resume: true,
                pause_at_step: None,
                ..opts
            },
        )
        .unwrap();
        let [_, adapters1, heads1] = groups(values(&first.model));
        let [encoder, adapters, heads] = groups(values(&trained.model));
        let changed = encoder.iter().filter(|(p, v)| base[*p] != **v).count();
        match mode {
            "full" => assert!(
                changed >= encoder.len() / 2,
                "full: only {changed} of {} encoder tensors changed",
                encoder.len()
            ),
            _ => assert_eq!(changed, 0, "{mode}: the base encoder changed"),
        }
        let moved = heads.iter().filter(|(p, v)| heads1[*p] != **v).count();
        assert_eq!(
            moved,
            heads.len(),
            "{mode}: only {moved} of {} head tensors trained",
            heads.len()
        );
        assert_eq!(adapters.is_empty(), !mode.ends_with("ora"), "{mode}: adapters");
        assert_eq!(adapters.keys().any(|p| p.ends_with("magnitude")), mode == "dora");
        for (path, v) in &adapters {
            assert_ne!(adapters1[path], *v, "{mode}: {path} did not train");
        }
        let head_params: usize = heads.values().map(Vec::len).sum();
        let adapter_params: usize = adapters.values().map(Vec::len).sum();
        let expected = match mode {
            "heads" => head_params,
            "full" => head_params + encoder.values().map(Vec::len).sum::<usize>(),
            _ => head_params + adapter_params,
        };
        assert_eq!(
            trained.summary.params.trainable, expected,
            "{mode}: trainable parameter count"
        );
    }
}

#[test]
fn f16_loss_scaling_skips_overflowing_steps() {
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 16, 8));
    let sets = |scale: &'static str| {
        vec![
            "adapter.mode=lora",
            "train.precision=f16",
            "train.cpu_half=true",
            "train.max_steps=3",
            "train.batch_size=8",
            "train.log_every=1",
            scale,
        ]
    };
    // 2^40 overflows f16 (max 65504) in every gradient: all three steps are skipped.
    let out = dir.path().join("overflow");
    let trained = run(
        &config(&model, &data, ALL_TASKS, &sets("train.loss_scale=1099511627776")),
        &out,
    );
    assert_eq!(trained.summary.skipped_steps, 3);
    assert_eq!(trained.summary.precision.compute, minbert_task::Precision::F16);
    let scales: Vec<f64> = train_lines(&out)
        .iter()
        .map(|l| l["loss_scale"].as_f64().unwrap())
        .collect();
    assert_eq!(scales, [2f64.powi(39), 2f64.powi(38), 2f64.powi(37)]);
    let [_, adapters, _] = groups(values(&trained.model));
    assert!(
        adapters
            .iter()
            .filter(|(p, _)| p.ends_with("lora_b"))
            .all(|(_, v)| v.iter().all(|x| *x == 0.0)),
        "a skipped step updated"
    );

    // A sane scale trains.
    let out = dir.path().join("ok");
    let trained = run(&config(&model, &data, ALL_TASKS, &sets("train.loss_scale=256")), &out);
    assert_eq!(trained.summary.skipped_steps, 0);
    let [_, adapters, _] = groups(values(&trained.model));
    assert!(
        adapters
            .iter()
            .filter(|(p, _)| p.ends_with("lora_b"))
            .all(|(_, v)| v.iter().any(|x| *x != 0.0))
    );

    // Without cpu_half the flex backend computes in f32 and says so.
    let out = dir.path().join("fallback");
    let trained = run(
        &config(&model, &data, ALL_TASKS, &["train.precision=bf16", "train.max_steps=1"]),
        &out,
    );
    assert_eq!(trained.summary.precision.compute, minbert_task::Precision::F32);
    assert!(
        trained
            .summary
            .precision
            .note
            .as_deref()
            .unwrap()
            .contains("slower than f32")
    );
}

#[test]
fn two_encoders_cosine_heads_and_separate_pairs_reload_exactly() {
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 16, 12));
    let tasks = "[tasks.sst]\nhead = \"mlp\"\nlabel_smoothing = 0.1\n\
                 [tasks.para]\npair = \"separate\"\nhead = \"cosine\"\nloss = \"contrastive\"\n\
                 [tasks.sts]\npair = \"separate\"\nhead = \"cosine\"\nloss = \"cosent\"\n";
    let out = dir.path().join("run");
    let config = config(
        &model,
        &data,
        tasks,
        &[
            "model.encoders=2",
            "adapter.mode=dora",
            "adapter.rslora=true",
            "train.max_steps=3",
            "train.batch_size=8",
        ],
    );
    let trained = run(&config, &out);
    assert!(
        out.join("last/adapter/adapter_config.json").is_file()
            && out.join("last/adapter-1/adapter_model.safetensors").is_file()
    );
    let loaded = load_checkpoint(&out.join("last"), &Device::flex()).unwrap();
    assert_eq!(
        loaded.meta.model.tasks.iter().map(|t| t.encoder).collect::<Vec<_>>(),
        [0, 1, 1]
    );
    assert!(loaded.lora.as_ref().unwrap().use_dora);
    let tasks =
        minbert_train::data::load_task_data(&config, &minbert_data::DataDir::at(&data), &tokenizer(&model)).unwrap();
    let dev: Vec<_> = tasks.iter().map(|t| (t.task, &t.dev)).collect();
    assert_eq!(evaluate(&loaded.model, &dev, 5), evaluate(&trained.model, &dev, 5));
    assert_same_values(&values(&loaded.model), &values(&trained.model), "loaded vs trained");
    assert!(loaded.model.head(CourseTask::Para).unwrap().out.is_none());
}

/// A checkpoint names a local base model by its path relative to the checkpoint, so the run and
/// the model can move together (another machine, another folder).
#[test]
fn a_checkpoint_finds_its_local_base_model_after_both_moved() {
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let project = dir.path().join("project");
    let (model, data) = (tiny_model(&project), small_data(&project, 16, 8));
    let out = project.join("run");
    let config = config(
        &model,
        &data,
        ALL_TASKS,
        &["adapter.mode=lora", "train.max_steps=2", "train.batch_size=8"],
    );
    let trained = run(&config, &out);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("last/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["base_model"]["name_or_path"], "../../tiny-bert");

    let moved = dir.path().join("elsewhere");
    std::fs::rename(&project, &moved).unwrap();
    let loaded = load_checkpoint(&moved.join("run/last"), &Device::flex()).unwrap();
    assert_eq!(loaded.base_model, moved.join("run/last/../../tiny-bert"));
    assert_same_values(
        &values(&loaded.model),
        &values(&trained.model),
        "loaded after the move vs trained",
    );
}

#[test]
fn progressive_unfreezing_thaws_the_top_layers_epoch_by_epoch() {
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 16, 8));
    let (_, base) = minbert_model::load_pretrained(&model, &Device::flex()).unwrap();
    let base: BTreeMap<String, Vec<f32>> = values(&base)
        .into_iter()
        .map(|(p, v)| (format!("encoders.0.{p}"), v))
        .collect();
    // 2 batches per task, 6 steps per epoch; 2 layers, one more thawed per epoch.
    let config = config(
        &model,
        &data,
        ALL_TASKS,
        &[
            "adapter.mode=full",
            "train.epochs=3",
            "train.batch_size=8",
            "train.lr=1e-2",
            "train.unfreeze_layers=1",
        ],
    );
    let out = dir.path().join("run");
    let mut opts = options(&out);
    let changed = |trained: &minbert_train::Trained, part: &str| {
        let [encoder, _, _] = groups(values(&trained.model));
        encoder
            .iter()
            .filter(|(p, _)| p.contains(part))
            .any(|(p, v)| base[p] != *v)
    };
    opts.pause_at_step = Some(6);
    let epoch1 = train(&config, &opts).unwrap();
    assert!(!changed(&epoch1, "encoders.0."), "epoch 1 trains the heads only");
    opts.resume = true;
    opts.pause_at_step = Some(12);
    let epoch2 = train(&config, &opts).unwrap();
    assert!(
        changed(&epoch2, "layer.1.") && !changed(&epoch2, "layer.0.") && !changed(&epoch2, "embeddings."),
        "epoch 2 thaws the top layer"
    );
    opts.pause_at_step = None;
    let epoch3 = train(&config, &opts).unwrap();
    assert!(
        changed(&epoch3, "layer.0.") && changed(&epoch3, "embeddings."),
        "epoch 3 trains everything"
    );
    assert_eq!(epoch3.summary.params.trainable, epoch3.summary.params.total);
}

#[test]
fn separate_pairs_in_one_pass_equal_each_side_encoded_alone() {
    use minbert_data::{CourseOptions, DataDir, PairMode, Split, encode_dataset};
    use minbert_task::Pooling;
    use minbert_task::model::{encode, encode_pair};

    // Building models draws from the process's one RNG (see `serial`).
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 4, 12));
    let device = Device::flex();
    let (_, bert) = minbert_model::load_pretrained(&model, &device).unwrap();
    let raw = DataDir::at(&data)
        .read(CourseTask::Sts, Split::Dev, &CourseOptions::default())
        .unwrap();
    let dataset = encode_dataset(&raw, &tokenizer(&model), PairMode::Separate).unwrap();
    let batch = dataset.pad(&(0..dataset.len()).collect::<Vec<_>>()).to_device(&device);
    let second = batch.second.as_ref().unwrap();
    assert_ne!(
        batch.first.input_ids.dims()[1],
        second.input_ids.dims()[1],
        "the sides are padded to other lengths"
    );
    for pooling in [Pooling::Mean, Pooling::Cls, Pooling::Pooler] {
        let (u, v) = encode_pair(&bert, &batch.first, second, pooling);
        for (pair, alone) in [
            (u, encode(&bert, &batch.first, pooling)),
            (v, encode(&bert, second, pooling)),
        ] {
            assert_eq!(pair.dims(), alone.dims());
            let diff: f32 = (pair - alone).abs().max().into_scalar();
            assert!(diff < 1e-5, "{pooling:?}: max difference {diff}");
        }
    }
}

#[test]
fn half_precision_encoder_stays_close_to_f32_on_a_padded_batch() {
    // The real model in bf16 and f16, one row padded: the additive mask must take the half
    // dtype's own minimum (f32's is -inf in bf16, and padding then gives 0 * -inf = NaN).
    use burn::tensor::{DType, Int, Tensor, TensorData};
    use minbert_model::{BertInput, load_pretrained};
    use minbert_train::params::cast_params;

    let _serial = serial();
    let device = Device::flex();
    let (_, bert) = load_pretrained(&model_dir(), &device).unwrap();
    let ints = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [2, 6]), &device);
    let input = BertInput {
        input_ids: ints(vec![101, 7592, 2088, 2003, 2307, 102, 101, 2307, 102, 0, 0, 0]),
        attention_mask: ints(vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]),
        token_type_ids: ints(vec![0; 12]),
    };
    let reference = data(bert.forward(input.clone()).last_hidden_state.into_data());
    let scale = reference.iter().map(|v| v.abs()).sum::<f32>() / reference.len() as f32;
    for (dtype, tolerance) in [(DType::BF16, 0.05), (DType::F16, 0.01)] {
        let half = cast_params(bert.clone(), dtype);
        let out = half.forward(input.clone()).last_hidden_state;
        assert_eq!(out.dtype(), dtype);
        let got = data(out.cast(DType::F32).into_data());
        assert!(got.iter().all(|v| v.is_finite()), "{dtype:?}: non-finite hidden states");
        let mean_err = got.iter().zip(&reference).map(|(a, b)| (a - b).abs()).sum::<f32>() / got.len() as f32;
        assert!(
            mean_err <= tolerance * scale,
            "{dtype:?}: mean error {mean_err} against mean |h| {scale}"
        );
    }
}

#[test]
fn loraplus_scales_only_the_b_factors_steps() {
    let _serial = serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 16, 12));
    let step = |ratio: &str| {
        let sets = [
            "train.max_steps=1",
            "train.warmup=0",
            &format!("train.loraplus_lr_ratio={ratio}"),
        ];
        let trained = run(&config(&model, &data, ALL_TASKS, &sets), &dir.path().join(ratio));
        values(&trained.model)
    };
    let (plain, plus) = (step("1"), step("16"));
    let mut b_factors = 0;
    for ((path, x), (_, y)) in plain.iter().zip(&plus) {
        if path.ends_with("lora_b") {
            // B starts at zero: after one AdamW step it is the step itself, 16 times larger.
            b_factors += 1;
            assert!(x.iter().any(|v| *v != 0.0), "{path} trained");
            for (p, q) in x.iter().zip(y) {
                assert!(
                    (q - 16.0 * p).abs() <= 1e-3 * (16.0 * p).abs() + 1e-9,
                    "{path}: {q} vs 16 x {p}"
                );
            }
        } else {
            assert_eq!(x, y, "{path} takes the plain learning rate");
        }
    }
    assert!(b_factors > 0);
}
