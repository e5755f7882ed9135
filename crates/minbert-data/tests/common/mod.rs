//! What the integration tests share: the course data committed in `data/` and the default
//! model's tokenizer (see minbert-testkit).
#![allow(dead_code)] // each test binary uses a different part

use minbert_data::{BertTokenizer, DataDir};

pub fn data_dir() -> DataDir {
    DataDir::at(minbert_testkit::data_dir())
}

pub fn tokenizer(max_len: usize) -> BertTokenizer {
    let dir = minbert_testkit::model_dir();
    BertTokenizer::from_dir(&dir).unwrap().with_max_len(max_len).unwrap()
}
