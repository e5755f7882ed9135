//! The model of `tests/fixtures/peft-tiny` (recorded with PEFT by its `record.py`):
//! `proj_out(relu(proj_in(x)))`, two plain burn-nn `Linear`s, and readers of its files.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

#[path = "files.rs"]
mod files;
pub use files::Stored;

#[derive(Module, Debug)]
pub struct Tiny {
    pub proj_in: Linear,
    pub proj_out: Linear,
}

impl Tiny {
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.proj_out.forward(relu(self.proj_in.forward(x)))
    }
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/peft-tiny")
        .join(path)
}

pub fn tensors(path: &str) -> BTreeMap<String, Stored> {
    files::read(&fixture(path))
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect()
}

/// The fixtures' `manifest.json`.
pub fn manifest() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("manifest.json")).unwrap()).unwrap()
}

/// A manifest item's `lora_config` (record.py's `LoraConfig` arguments) as an
/// `adapter_config.json` object.
pub fn as_adapter_config(item: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    let mut config = item["lora_config"].as_object().unwrap().clone();
    config.insert("peft_type".into(), "LORA".into());
    config
}

/// The recorded base model, on `device`.
pub fn base_model(device: &Device) -> Tiny {
    let base = tensors("base.safetensors");
    let linear = |name: &str| Linear {
        weight: Param::from_tensor(base[&format!("{name}.weight")].to_linear_weight(device)),
        bias: Some(Param::from_tensor(base[&format!("{name}.bias")].to_tensor(device))),
    };
    Tiny {
        proj_in: linear("proj_in"),
        proj_out: linear("proj_out"),
    }
}

/// The recorded input `x`.
pub fn input(device: &Device) -> Tensor<2> {
    tensors("base.safetensors")["x"].to_tensor(device)
}

/// A recorded output of `outputs.safetensors` (or `y_base` of `base.safetensors`).
pub fn output(name: &str) -> Vec<f32> {
    let file = if name == "y_base" {
        "base.safetensors"
    } else {
        "outputs.safetensors"
    };
    tensors(file)[name].values.clone()
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
