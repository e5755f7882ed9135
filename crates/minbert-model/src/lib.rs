//! A BERT encoder that gives Hugging Face `transformers`' numbers, on Burn.
//!
//! [`BertConfig`] reads a `config.json`; [`load_pretrained`] builds a [`BertModel`] from a
//! checkpoint directory; every linear layer is reachable by its HF module path through
//! `burn_peft::AdaptableModel`, which is how LoRA / DoRA adapters attach. [`embed`] runs it
//! over token ids and gathers every output.

mod bert;
mod config;
mod embed;
mod error;
mod hf_tensors;
mod summary;
mod weights;

use std::path::Path;

use burn::tensor::Device;

pub use bert::{
    AttentionMask, BertAttention, BertEmbeddings, BertEncoder, BertInput, BertIntermediate, BertLayer, BertModel,
    BertOutput, BertPooler, BertResidualOutput, BertSelfAttention, LAYER_LINEARS,
};
pub use config::{BertConfig, HiddenAct};
pub use embed::{EmbedOptions, Embeddings, TokenBatch, embed};
pub use error::ModelError;
pub use hf_tensors::{HfTensor, read_safetensors, save_safetensors};
pub use summary::{BaseParams, ParamCounts};
pub use weights::WeightMap;

/// Reads `config.json` and `model.safetensors` from a Hugging Face checkpoint directory.
pub fn load_pretrained(dir: &Path, device: &Device) -> Result<(BertConfig, BertModel), ModelError> {
    if !dir.is_dir() {
        return Err(ModelError::MissingDir(dir.to_path_buf()));
    }
    let config = BertConfig::from_hf_file(&dir.join("config.json"))?;
    let weights_path = dir.join("model.safetensors");
    if !weights_path.is_file() {
        return Err(ModelError::NoWeights { dir: dir.to_path_buf() });
    }
    let mut weights = WeightMap::from_safetensors(&weights_path, "embeddings.word_embeddings.weight", device)?;
    let model = config.init_with(&mut weights, device);
    weights.finish()?;
    Ok((config, model))
}
