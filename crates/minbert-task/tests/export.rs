//! `ExportSource`: a tiny random BERT with a random LoRA adapter, exported merged and as PEFT;
//! the merged checkpoint loads as a plain model with the adapted model's outputs, and the PEFT
//! adapter loads back onto the base model with them too.

use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_peft::{LoadedAdapter, LoraConfig, LoraInit, TargetModules, inject_adapter, save_adapter};
use minbert_model::{BertInput, BertModel, load_pretrained, save_safetensors};
use minbert_task::export::ExportSource;
use tempfile::TempDir;

const CONFIG: &str = r#"{"model_type": "bert", "vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 2,
  "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16,
  "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}"#;

/// A random base model in `dir/base`, and the same model with a random adapter saved in
/// `dir/adapter`.
fn base_and_adapter(dir: &Path, device: &Device) -> BertModel {
    let base = dir.join("base");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("config.json"), CONFIG).unwrap();
    let model = minbert_model::BertConfig::from_hf_file(&base.join("config.json"))
        .unwrap()
        .init(device);
    save_safetensors(&base.join("model.safetensors"), &model.to_hf_tensors()).unwrap();
    let (_, mut adapted) = load_pretrained(&base, device).unwrap();
    let config = LoraConfig {
        init_lora_weights: LoraInit::Random,
        ..LoraConfig::new(TargetModules::Names(vec!["query".into(), "value".into()]))
    };
    inject_adapter(&mut adapted, &config).unwrap();
    std::fs::create_dir_all(dir.join("adapter")).unwrap();
    save_adapter(&adapted, &config, &dir.join("adapter")).unwrap();
    adapted
}

fn outputs(model: &BertModel, device: &Device) -> Vec<f32> {
    let ints = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [2, 3]), device);
    let input = BertInput {
        input_ids: ints(vec![1, 7, 2, 1, 4, 2]),
        attention_mask: ints(vec![1; 6]),
        token_type_ids: ints(vec![0, 0, 0, 0, 1, 1]),
    };
    model
        .forward(input)
        .last_hidden_state
        .into_data()
        .try_into_vec::<f32>()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn merged_and_peft_exports_give_the_adapted_models_outputs() {
    let device = Device::flex();
    let dir = TempDir::new().unwrap();
    let adapted = base_and_adapter(dir.path(), &device);
    let expected = outputs(&adapted, &device);
    let base = dir.path().join("base");
    let source = ExportSource::from_adapter(&dir.path().join("adapter"), base.clone(), &device).unwrap();
    assert_eq!(source.adapter.as_ref().unwrap().paths.len(), 4);
    let described = format!("adapter {}: LoRA, r ", dir.path().join("adapter").display());
    assert!(source.describe().starts_with(&described), "{}", source.describe());
    assert!(source.describe().ends_with(", 4 modules"), "{}", source.describe());
    assert_eq!(source.warning(), None, "an adapter has one encoder");

    let merged = dir.path().join("merged");
    std::fs::create_dir_all(&merged).unwrap();
    source.write_merged(&merged).unwrap();
    assert_eq!(std::fs::read(merged.join("config.json")).unwrap(), CONFIG.as_bytes());
    let (_, plain) = load_pretrained(&merged, &device).unwrap();
    assert!(burn_peft::adapted_paths(&plain).is_empty());
    let (_, untouched) = load_pretrained(&base, &device).unwrap();
    assert!(
        max_diff(&outputs(&untouched, &device), &expected) > 1e-3,
        "the adapter changes the outputs"
    );
    assert!(max_diff(&outputs(&plain, &device), &expected) < 1e-5);

    let peft = dir.path().join("peft");
    std::fs::create_dir_all(&peft).unwrap();
    source.write_peft(&peft).unwrap();
    let (_, mut reloaded) = load_pretrained(&base, &device).unwrap();
    LoadedAdapter::load(&mut reloaded, &peft).unwrap();
    assert!(max_diff(&outputs(&reloaded, &device), &expected) < 1e-6);
}

#[test]
fn a_missing_adapter_is_named() {
    let device = Device::flex();
    let dir = TempDir::new().unwrap();
    base_and_adapter(dir.path(), &device);
    let missing = dir.path().join("none");
    let err = ExportSource::from_adapter(&missing, dir.path().join("base"), &device)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with(&format!("loading adapter {}: ", missing.display())),
        "{err}"
    );
}
