//! Paths shared by the integration tests: the course data and the default model live in
//! `shared/` beside the repository (CI clones next to it), or where `MINBERT_SHARED` says.
#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use minbert_data::{BertTokenizer, DataDir};

pub fn shared_dir() -> PathBuf {
    std::env::var_os("MINBERT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

pub fn data_dir() -> DataDir {
    DataDir::at(shared_dir().join("data"))
}

pub fn tokenizer(max_len: usize) -> BertTokenizer {
    let dir = shared_dir().join("models/all-MiniLM-L6-v2");
    BertTokenizer::from_dir(&dir)
        .unwrap()
        .with_max_len(max_len)
        .unwrap()
}
