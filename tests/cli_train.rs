//! `minbert train` end to end on the real model with a handful of steps: the run directory, the
//! printed summary, resuming, and the one-line errors of a bad config.

use serde_json::Value;
use tempfile::TempDir;

mod common;

use common::*;

fn write_config(dir: &std::path::Path) -> String {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        "[adapter]\nmode = \"lora\"\nr = 2\n[data]\nmax_len = 24\nsubset = 8\ndev_subset = 8\n\
         [tasks.sst]\n[tasks.sts]\npair = \"separate\"\nhead = \"cosine\"\nloss = \"cosent\"\n\
         [train]\nepochs = 1\nbatch_size = 4\nlr = 1e-3\n",
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn train_writes_a_run_and_resumes_it() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path());
    let out = dir.path().join("run");
    let model = model_dir();
    let json = dir.path().join("summary.json");
    let stdout = ok(&[
        "train",
        "--config",
        &config,
        "--out",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--set",
        "train.max_steps=2",
        "--progress",
        "quiet",
        "--threads",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(stdout.contains("max_steps after 2 steps"), "{stdout}");
    assert!(
        stdout.contains("sst_acc") && stdout.contains("sts_pearson") && !stdout.contains("quora_acc"),
        "{stdout}"
    );
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary["steps"], 2);
    assert_eq!(summary["precision"]["compute"], "f32");
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        resolved.contains("max_steps = 2") && resolved.contains("all-MiniLM-L6-v2"),
        "{resolved}"
    );
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(out.join("best/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["mode"], "lora");
    assert_eq!(meta["base_model"]["sha256"].as_str().unwrap().len(), 64);
    assert!(out.join("best/adapter/adapter_model.safetensors").is_file());

    // Resuming a finished run trains no further and says so.
    let stdout = ok(&[
        "train",
        "--resume",
        "--out",
        out.to_str().unwrap(),
        "--progress",
        "quiet",
    ]);
    assert!(stdout.contains("after 2 steps"), "{stdout}");
}

#[test]
fn config_errors_are_one_line_naming_file_and_key() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path());
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    let msg = fails(&["train", "--config", &config, "--out", out, "--set", "train.lrr=1"]);
    assert!(
        msg.contains("--set train.lrr=1") && msg.contains("unknown field `lrr`"),
        "{msg}"
    );
    let msg = fails(&["train", "--config", &config, "--out", out, "--set", "adapter.r=0"]);
    assert!(
        msg.contains("tiny.toml") && msg.contains("adapter.r: must be at least 1"),
        "{msg}"
    );
    let model = model_dir();
    let msg = fails(&[
        "train",
        "--config",
        &config,
        "--out",
        out,
        "--model",
        model.to_str().unwrap(),
        "--data-dir",
        "/nonexistent/data",
    ]);
    assert!(msg.contains("/nonexistent/data"), "{msg}");
    let msg = fails(&["train", "--resume", "--out", out]);
    assert!(msg.contains("config.toml"), "{msg}");
}
