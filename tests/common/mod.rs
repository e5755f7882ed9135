//! What the end-to-end tests of the `minbert` binary share: the model, data and fixtures (from
//! minbert-testkit), running the binary, and reading safetensors outputs.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use minbert_testkit::{data_dir, fixtures_dir, model_dir};
use safetensors::{Dtype, SafeTensors};

/// The recorded batch and base model outputs.
pub fn fixture() -> PathBuf {
    fixtures_dir().join("base.safetensors")
}

/// The first `rows` examples of each course file the tests use, in `root/data`.
/// A folder for the fixtures that the tests of one test binary share (held in a static, which
/// is never dropped): under cargo's target tmp folder, emptied at each run, so that runs do not
/// pile up copies in /tmp.
pub fn shared_fixture_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn small_course_data(root: &Path, rows: usize) -> PathBuf {
    let data = root.join("data");
    std::fs::create_dir_all(data.join("partial")).unwrap();
    for file in [
        "ids-sst-train.csv",
        "ids-sst-dev.csv",
        "ids-sst-test-student.csv",
        "partial/quora-train.first-14139-rows.csv",
        "quora-dev.csv",
        "sts-train.csv",
        "sts-dev.csv",
        "sts-test-student.csv",
    ] {
        let text = std::fs::read_to_string(data_dir().join(file)).unwrap();
        let head: String = text.split_inclusive('\n').take(rows + 1).collect();
        std::fs::write(data.join(file), head).unwrap();
    }
    data
}

/// `minbert train --config config` on the course data in `data` (see [`small_course_data`]),
/// with `--set` overrides, into `root/name`; its `best/` checkpoint.
pub fn train_run(root: &Path, data: &Path, name: &str, config: &Path, sets: &[&str]) -> PathBuf {
    let out = root.join(name);
    let model = model_dir();
    let mut args = vec![
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--progress",
        "quiet",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    ok(&args);
    out.join("best")
}

/// Runs the binary with the repository's course data and the tests' model as its defaults (the
/// tests run in the crate's folder, where there is no `data/`).
pub fn minbert(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minbert"))
        .args(args)
        .env("MINBERT_DATA_DIR", data_dir())
        .env("MINBERT_MODEL", model_dir())
        .env("MINBERT_DEVICE", "auto")
        .output()
        .expect("the minbert binary runs")
}

/// A path as a command-line argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A JSON file's contents.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn ok(args: &[&str]) -> String {
    let out = minbert(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "minbert {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail cleanly and returns its message.
pub fn fails(args: &[&str]) -> String {
    let out = minbert(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "minbert {args:?} should exit 1: {stderr}");
    assert!(!stderr.contains("panicked"), "minbert {args:?} panicked: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

pub fn floats(path: &Path, key: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let v = st
        .tensor(key)
        .unwrap_or_else(|_| panic!("{} has no {key}", path.display()));
    assert_eq!(v.dtype(), Dtype::F32, "{key}");
    (
        v.shape().to_vec(),
        v.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
    )
}

pub fn ints(path: &Path, key: &str) -> Vec<i64> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(key)
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

pub fn write_ints(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<_> = tensors
        .iter()
        .map(|(k, d, s, b)| (*k, safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

pub fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `embed`'s output for the fixture's batch against transformers: every hidden state on
/// unpadded positions and the pooler output, within 1e-4.
pub fn assert_embeddings_match_transformers(out: &Path) {
    let mask = ints(&fixture(), "attention_mask");
    let mut keys: Vec<String> = (0..7).map(|i| format!("hidden_state_{i}")).collect();
    keys.push("last_hidden_state".into());
    for key in &keys {
        let (shape, got) = floats(out, key);
        let (expected_shape, expected) = floats(&fixture(), key);
        assert_eq!(shape, expected_shape, "{key}");
        let diff = mask
            .iter()
            .enumerate()
            .filter(|(_, m)| **m == 1)
            .flat_map(|(t, _)| (t * 384..(t + 1) * 384).map(|i| (got[i] - expected[i]).abs()))
            .fold(0.0f32, f32::max);
        assert!(diff <= 1e-4, "{key}: max abs diff {diff}");
    }
    let (_, got) = floats(out, "pooler_output");
    let (_, expected) = floats(&fixture(), "pooler_output");
    let diff = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= 1e-4, "pooler_output: max abs diff {diff}");
}
