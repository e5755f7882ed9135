//! Loading checkpoints: round trips, HF's name variants, and the errors for bad files.

use std::path::Path;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use burn_peft::AdaptableModel;
use minbert_model::{BertConfig, BertInput, BertModel, HfTensor, ModelError, load_pretrained, save_safetensors};
use tempfile::TempDir;

const CONFIG: &str = r#"{"model_type": "bert", "vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 2,
  "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16,
  "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}"#;

fn tiny() -> (BertConfig, BertModel, Device) {
    let device = Device::flex();
    let config: BertConfig = {
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
        BertConfig::from_hf_file(&dir.path().join("config.json")).unwrap()
    };
    let model = config.init(&device);
    (config, model, device)
}

fn write_checkpoint(dir: &Path, tensors: &[HfTensor]) {
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    save_safetensors(&dir.join("model.safetensors"), tensors).unwrap();
}

fn input(device: &Device) -> BertInput {
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 7, 9, 2, 1, 4, 2, 0], [2, 4]), device);
    let mask = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 1, 1, 1, 1, 1, 1, 0], [2, 4]), device);
    let types = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 0, 1, 1, 0, 0, 0, 0], [2, 4]), device);
    BertInput {
        input_ids: ids,
        attention_mask: mask,
        token_type_ids: types,
    }
}

fn outputs(model: &BertModel, device: &Device) -> Vec<f32> {
    let out = model.forward(input(device));
    let mut v = out.last_hidden_state.into_data().try_into_vec::<f32>().unwrap();
    if let Some(p) = out.pooler_output {
        v.extend(p.into_data().try_into_vec::<f32>().unwrap());
    }
    v
}

fn load_err(dir: &Path) -> String {
    let err = load_pretrained(dir, &Device::flex()).map(|_| ()).unwrap_err();
    err.to_string()
}

#[test]
fn save_then_load_gives_the_same_model() {
    let (_, model, device) = tiny();
    let dir = TempDir::new().unwrap();
    write_checkpoint(dir.path(), &model.to_hf_tensors());
    let (_, loaded) = load_pretrained(dir.path(), &device).unwrap();
    assert_eq!(outputs(&model, &device), outputs(&loaded, &device));
    // Linear weights are saved [out, in]: the FFN up-projection is [16, 8].
    let up = model
        .to_hf_tensors()
        .into_iter()
        .find(|t| t.name == "encoder.layer.0.intermediate.dense.weight")
        .unwrap();
    assert_eq!(up.shape, vec![16, 8]);
}

#[test]
fn bert_prefix_other_heads_and_legacy_layer_norm_names_load() {
    let (_, model, device) = tiny();
    let mut tensors = model.to_hf_tensors();
    for t in &mut tensors {
        t.name = format!("bert.{}", t.name)
            .replace("LayerNorm.weight", "LayerNorm.gamma")
            .replace("LayerNorm.bias", "LayerNorm.beta");
    }
    tensors.push(HfTensor::new("cls.predictions.bias", Tensor::<1>::zeros([50], &device)));
    let dir = TempDir::new().unwrap();
    write_checkpoint(dir.path(), &tensors);
    let (_, loaded) = load_pretrained(dir.path(), &device).unwrap();
    assert_eq!(outputs(&model, &device), outputs(&loaded, &device));
}

#[test]
fn a_checkpoint_without_pooler_has_no_pooler_output() {
    let (_, model, device) = tiny();
    let tensors: Vec<_> = model
        .to_hf_tensors()
        .into_iter()
        .filter(|t| !t.name.starts_with("pooler."))
        .collect();
    let dir = TempDir::new().unwrap();
    write_checkpoint(dir.path(), &tensors);
    let (_, loaded) = load_pretrained(dir.path(), &device).unwrap();
    assert!(loaded.pooler.is_none());
    assert!(loaded.forward(input(&device)).pooler_output.is_none());
    assert!(!loaded.linear_paths().contains(&"pooler.dense".to_string()));
}

#[test]
fn missing_misshapen_and_unexpected_keys_are_all_listed() {
    let (_, model, device) = tiny();
    let mut tensors: Vec<_> = model
        .to_hf_tensors()
        .into_iter()
        .filter(|t| t.name != "encoder.layer.1.attention.self.key.bias")
        .collect();
    let q = tensors
        .iter_mut()
        .find(|t| t.name == "encoder.layer.0.attention.self.query.weight")
        .unwrap();
    q.shape = vec![4, 16];
    tensors.push(HfTensor::new(
        "encoder.layer.0.extra.weight",
        Tensor::<1>::random([3], Distribution::Default, &device),
    ));
    let dir = TempDir::new().unwrap();
    write_checkpoint(dir.path(), &tensors);
    let msg = load_err(dir.path());
    assert!(msg.contains("model.safetensors"), "{msg}");
    assert!(
        msg.contains("missing keys: encoder.layer.1.attention.self.key.bias"),
        "{msg}"
    );
    assert!(msg.contains("unexpected keys: encoder.layer.0.extra.weight"), "{msg}");
    assert!(
        msg.contains("\"encoder.layer.0.attention.self.query.weight\" has shape [4, 16], expected [8, 8]"),
        "{msg}"
    );
}

#[test]
fn integer_weights_are_a_dtype_error() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    let data: Vec<u8> = (0..50 * 8).flat_map(|i: i64| i.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![50, 8], &data).unwrap();
    let bytes = safetensors::serialize([("embeddings.word_embeddings.weight", view)], None).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
    let msg = load_err(dir.path());
    assert!(
        msg.contains("embeddings.word_embeddings.weight") && msg.contains("I64"),
        "{msg}"
    );
}

#[test]
fn bad_directories_and_files_are_clear_errors() {
    let missing = Path::new("/nonexistent/model");
    assert!(matches!(
        load_pretrained(missing, &Device::flex()),
        Err(ModelError::MissingDir(_))
    ));

    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"vocab_size": 50, "hidden_size": 8}"#,
    )
    .unwrap();
    let msg = load_err(dir.path());
    assert!(
        msg.contains("config.json") && msg.contains("missing key \"num_hidden_layers\""),
        "{msg}"
    );

    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    let msg = load_err(dir.path());
    assert!(msg.contains("expected model.safetensors"), "{msg}");

    std::fs::write(dir.path().join("model.safetensors"), b"not a safetensors file").unwrap();
    let msg = load_err(dir.path());
    assert!(
        msg.contains("model.safetensors") && msg.contains("not a valid safetensors file"),
        "{msg}"
    );

    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let msg = load_err(dir.path());
    assert!(msg.contains("config.json") && msg.contains("not valid JSON"), "{msg}");
}

#[test]
fn every_linear_layer_is_reachable_by_its_hf_path() {
    let (_, mut model, _) = tiny();
    let paths = model.linear_paths();
    assert_eq!(paths.len(), 2 * 6 + 1);
    assert_eq!(paths[0], "encoder.layer.0.attention.self.query");
    for path in &paths {
        assert!(model.adapted_linear_mut(path).is_some(), "{path}");
    }
    assert!(model.adapted_linear("encoder.layer.2.attention.self.query").is_none());
    assert!(model.adapted_linear("encoder.layer.0.attention.self.nope").is_none());
}
