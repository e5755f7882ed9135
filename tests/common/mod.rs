//! What the end-to-end tests of the `minbert` binary share: where the shared models and
//! fixtures are, running the binary, and reading safetensors outputs.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use safetensors::{Dtype, SafeTensors};

pub fn shared() -> PathBuf {
    std::env::var_os("MINBERT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

pub fn model_dir() -> PathBuf {
    shared().join("models/all-MiniLM-L6-v2")
}

pub fn fixture() -> PathBuf {
    shared().join("fixtures/hf-parity/base.safetensors")
}

/// Runs the binary with the shared course data as its default data directory (the tests run in
/// the crate's folder, where `data/` and `../shared/data` are not).
pub fn minbert(args: &[&str]) -> Output {
    let data = std::env::var_os("MINBERT_DATA_DIR").map_or_else(|| shared().join("data"), PathBuf::from);
    Command::new(env!("CARGO_BIN_EXE_minbert"))
        .args(args)
        .env("MINBERT_DATA_DIR", data)
        .env_remove("MINBERT_MODEL")
        .env("MINBERT_DEVICE", "auto")
        .output()
        .expect("the minbert binary runs")
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
    let v = st.tensor(key).unwrap_or_else(|_| panic!("{} has no {key}", path.display()));
    assert_eq!(v.dtype(), Dtype::F32, "{key}");
    (v.shape().to_vec(), v.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
}

pub fn ints(path: &Path, key: &str) -> Vec<i64> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(key).unwrap().data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
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
