//! Fixtures for the training tests: a tiny random BERT (all-MiniLM-L6-v2's tokenizer, 2 layers
//! of width 32) written as a Hugging Face checkpoint, a cut of the course files, and configs.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, TensorData};
use minbert_model::BertConfig;
use minbert_model::save_safetensors;
use minbert_train::params::collect_values;
use minbert_train::{TrainConfig, TrainOptions, Trained, train};

pub use minbert_testkit::model_dir;

/// A random 2-layer BERT of width 32 with the real tokenizer, in `dir/tiny-bert`.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let out = dir.join("tiny-bert");
    std::fs::create_dir_all(&out).unwrap();
    let config = r#"{"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64, "type_vocab_size": 2,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "layer_norm_eps": 1e-12}"#;
    std::fs::write(out.join("config.json"), config).unwrap();
    let device = Device::flex();
    device.seed(7);
    let model = BertConfig::from_hf_file(&out.join("config.json"))
        .unwrap()
        .init(&device);
    save_safetensors(&out.join("model.safetensors"), &model.to_hf_tensors()).unwrap();
    std::fs::copy(model_dir().join("tokenizer.json"), out.join("tokenizer.json")).unwrap();
    out
}

/// The first `train` and `dev` records of each course file, in `dir/data`.
pub fn small_data(dir: &Path, train: usize, dev: usize) -> PathBuf {
    let out = dir.join("data");
    std::fs::create_dir_all(&out).unwrap();
    let src = minbert_testkit::data_dir();
    for (from, to, rows) in [
        ("ids-sst-train.csv", "ids-sst-train.csv", train),
        ("ids-sst-dev.csv", "ids-sst-dev.csv", dev),
        ("partial/quora-train.first-14139-rows.csv", "quora-train.csv", train),
        ("quora-dev.csv", "quora-dev.csv", dev),
        ("sts-train.csv", "sts-train.csv", train),
        ("sts-dev.csv", "sts-dev.csv", dev),
    ] {
        let text = std::fs::read_to_string(src.join(from)).unwrap();
        let head: String = text.lines().take(rows + 1).map(|l| format!("{l}\n")).collect();
        std::fs::write(out.join(to), head).unwrap();
    }
    out
}

/// A config over the tiny model and data, with `extra` TOML appended (later keys win through
/// `--set`-style overrides given as `sets`).
pub fn config(model: &Path, data: &Path, toml: &str, sets: &[&str]) -> TrainConfig {
    let text = format!(
        "[model]\npath = {:?}\n[data]\ndir = {:?}\nmax_len = 32\n{toml}",
        model.display().to_string(),
        data.display().to_string()
    );
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    TrainConfig::parse(&text, Path::new("test.toml"), &sets).unwrap_or_else(|e| panic!("{e}"))
}

pub const ALL_TASKS: &str = "[tasks.sst]\n[tasks.para]\n[tasks.sts]\n";

pub fn options(out: &Path) -> TrainOptions {
    options_on(out, &Device::flex())
}

pub fn options_on(out: &Path, device: &Device) -> TrainOptions {
    TrainOptions::new(out, device.clone())
}

pub fn run(config: &TrainConfig, out: &Path) -> Trained {
    run_on(config, out, &Device::flex())
}

pub fn run_on(config: &TrainConfig, out: &Path, device: &Device) -> Trained {
    train(config, &options_on(out, device)).unwrap_or_else(|e| panic!("{e}"))
}

/// Every parameter's values by path, as plain vectors.
pub fn values<M: Module>(model: &M) -> Vec<(String, Vec<f32>)> {
    collect_values(model, |_| true)
        .into_iter()
        .map(|(p, t)| (p, data(t.into_data())))
        .collect()
}

pub fn data(d: TensorData) -> Vec<f32> {
    d.convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// The `type: train` lines of a run's metrics.jsonl.
pub fn train_lines(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "train")
        .collect()
}

/// Panics naming the first parameter that differs (bit for bit) and by how much.
pub fn assert_same_values(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)], what: &str) {
    assert_eq!(
        a.iter().map(|x| &x.0).collect::<Vec<_>>(),
        b.iter().map(|x| &x.0).collect::<Vec<_>>(),
        "{what}: parameter paths"
    );
    for ((path, x), (_, y)) in a.iter().zip(b) {
        if x != y {
            let diff = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
            let differing = x.iter().zip(y).filter(|(p, q)| p != q).count();
            panic!(
                "{what}: {path} differs in {differing} of {} values, max abs diff {diff}",
                x.len()
            );
        }
    }
}

/// Burn's flex backend keeps one RNG for the whole process, and fail points are global:
/// trainings running at once in one test binary would interleave their dropout draws and trip
/// each other's fail points. Each training test holds this guard: one test at a time, and no
/// fail point configured when it starts or after it ends, even one that panicked.
pub fn serial() -> fail::FailScenario<'static> {
    fail::FailScenario::setup()
}
