//! `embed`: a tiny random BERT's outputs, gathered batch by batch, equal one forward pass over
//! every example; token-id files are checked key by key; the outputs file reads back.

use burn::tensor::Device;
use minbert_model::{BertConfig, BertModel, EmbedOptions, TokenBatch, embed, read_safetensors};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use tempfile::TempDir;

const CONFIG: &str = r#"{"model_type": "bert", "vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 2,
  "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16,
  "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}"#;

fn tiny() -> (BertConfig, BertModel, Device) {
    let device = Device::flex();
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    let config = BertConfig::from_hf_file(&dir.path().join("config.json")).unwrap();
    let model = config.init(&device);
    (config, model, device)
}

/// Three examples of four positions, the last one padded.
fn tokens() -> TokenBatch {
    TokenBatch {
        batch: 3,
        seq: 4,
        input_ids: vec![1, 7, 9, 2, 1, 4, 2, 0, 1, 3, 5, 2],
        attention_mask: vec![1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1],
        token_type_ids: vec![0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1],
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn batches_of_two_give_the_outputs_of_one_forward_pass() {
    let (_, model, device) = tiny();
    let tokens = tokens();
    let out = embed(&model, &tokens, EmbedOptions { batch_size: 2 }, &device).unwrap();
    let whole = model.forward_with_hidden_states(tokens.rows(0, 3, &device));
    assert_eq!(out.last_hidden_state.shape, vec![3, 4, 8]);
    let values = |t: burn::tensor::Tensor<3>| t.into_data().try_into_vec::<f32>().unwrap();
    assert!(max_diff(&out.last_hidden_state.values, &values(whole.last_hidden_state)) < 1e-5);
    assert_eq!(out.hidden_states.len(), 3);
    for (got, expected) in out.hidden_states.iter().zip(whole.hidden_states) {
        assert_eq!(got.shape, vec![3, 4, 8]);
        assert!(max_diff(&got.values, &values(expected)) < 1e-5, "{}", got.name);
    }
    let pooled = out.pooler_output.as_ref().unwrap();
    assert_eq!(pooled.shape, vec![3, 8]);
    let expected = whole.pooler_output.unwrap().into_data().try_into_vec::<f32>().unwrap();
    assert!(max_diff(&pooled.values, &expected) < 1e-5);

    let dir = TempDir::new().unwrap();
    let path = dir.path().join("out.safetensors");
    out.write_safetensors(&path).unwrap();
    let names: Vec<String> = read_safetensors(&path).unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "hidden_state_0",
            "hidden_state_1",
            "hidden_state_2",
            "last_hidden_state",
            "pooler_output"
        ]
    );
    let err = embed(&model, &tokens, EmbedOptions { batch_size: 0 }, &device).unwrap_err();
    assert_eq!(err.to_string(), "--batch-size must be at least 1");
}

/// `tensors` as int64 in a safetensors file.
fn write_ids(path: &std::path::Path, tensors: &[(&str, Vec<usize>, Vec<i64>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| (*name, TensorView::new(Dtype::I64, shape.clone(), b).unwrap()));
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn token_files_default_the_mask_and_types_and_name_the_key_at_fault() {
    let (config, _, _) = tiny();
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("in.safetensors");
    write_ids(&path, &[("input_ids", vec![1, 3], vec![1, 7, 2])]);
    let read = TokenBatch::read_safetensors(&path, &config).unwrap();
    assert_eq!(read, TokenBatch::single(&[1, 7, 2], &[0, 0, 0]));

    let err = |tensors: &[(&str, Vec<usize>, Vec<i64>)]| {
        write_ids(&path, tensors);
        let msg = TokenBatch::read_safetensors(&path, &config).unwrap_err().to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        msg
    };
    let msg = err(&[("input_ids", vec![1, 3], vec![1, 50, 2])]);
    assert!(
        msg.ends_with("key \"input_ids\" has 50 at [0, 1], expected an id in 0..50"),
        "{msg}"
    );
    let msg = err(&[
        ("input_ids", vec![1, 2], vec![1, 2]),
        ("token_type_ids", vec![1, 2], vec![0, 2]),
    ]);
    assert!(
        msg.ends_with("key \"token_type_ids\" has 2 at [0, 1], expected a type in 0..2"),
        "{msg}"
    );
    let msg = err(&[
        ("input_ids", vec![1, 2], vec![1, 2]),
        ("attention_mask", vec![2, 1], vec![1, 1]),
    ]);
    assert!(
        msg.ends_with("key \"attention_mask\" has shape [2, 1], but input_ids has [1, 2]"),
        "{msg}"
    );
    let msg = err(&[("input_ids", vec![1, 17], vec![1; 17])]);
    assert!(msg.ends_with("has 17 positions, the model allows at most 16"), "{msg}");
    let msg = err(&[("attention_mask", vec![1, 2], vec![1, 1])]);
    assert!(msg.ends_with("missing key \"input_ids\" (int64 [batch, seq])"), "{msg}");
}
