//! End-to-end runs of the `minbert` binary: parity through `embed`, `tokenize` and `info`
//! output, and the errors a user sees for bad input (named file and key, non-zero exit, no
//! panic).

use safetensors::Dtype;
use serde_json::Value;
use tempfile::TempDir;

mod common;

use common::*;

#[test]
fn embed_input_file_matches_transformers() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.safetensors");
    let model = model_dir();
    ok(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--input",
        fixture().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "4",
    ]);
    assert_embeddings_match_transformers(&out);
}

#[test]
fn embed_text_tokenizes_and_matches_transformers() {
    // The fixture's first example, encoded alone: 9 tokens, no padding.
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("one.safetensors");
    let model = model_dir();
    ok(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "I didn't like it.",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (shape, got) = floats(&out, "last_hidden_state");
    assert_eq!(shape, vec![1, 9, 384]);
    let (_, expected) = floats(&fixture(), "last_hidden_state");
    let diff = got
        .iter()
        .zip(&expected[..9 * 384])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= 1e-4, "max abs diff {diff}");
}

#[test]
fn tokenize_json_matches_the_recorded_ids() {
    let dir = TempDir::new().unwrap();
    let json = dir.path().join("tok.json");
    let model = model_dir();
    let stdout = ok(&[
        "tokenize",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "How old are you?",
        "--text-pair",
        "What is your age?",
        "--max-len",
        "32",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(stdout.contains("13 tokens"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join("manifest.json")).unwrap()).unwrap();
    let case = manifest["tokenizer"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pair_plain")
        .unwrap();
    assert_eq!(v["input_ids"], case["input_ids"]);
    assert_eq!(v["token_type_ids"], case["token_type_ids"]);
    assert_eq!(v["attention_mask"].as_array().unwrap().len(), 13);
}

#[test]
fn info_counts_parameters() {
    let dir = TempDir::new().unwrap();
    let json = dir.path().join("info.json");
    let model = model_dir();
    let stdout = ok(&[
        "info",
        "--model",
        model.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(stdout.contains("22713216"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["params"]["total"], 22_713_216);
    assert_eq!(v["linear_layers"].as_array().unwrap().len(), 37);
}

#[test]
fn bad_model_directories_are_clear_errors() {
    let msg = fails(&["info", "--model", "/nonexistent/model"]);
    assert!(msg.contains("/nonexistent/model"), "{msg}");

    let dir = TempDir::new().unwrap();
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir().join("config.json")).unwrap()).unwrap();
    let mut broken = config.clone();
    broken.as_object_mut().unwrap().remove("hidden_size");
    std::fs::write(dir.path().join("config.json"), broken.to_string()).unwrap();
    let msg = fails(&["info", "--model", dir.path().to_str().unwrap()]);
    assert!(msg.contains("config.json") && msg.contains("\"hidden_size\""), "{msg}");

    // A checkpoint whose query weight has the wrong shape.
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let data = vec![0u8; 4 * 10 * 384];
    let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![10, 384], &data).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors::serialize([("encoder.layer.0.attention.self.query.weight", view)], None).unwrap(),
    )
    .unwrap();
    let msg = fails(&["info", "--model", dir.path().to_str().unwrap()]);
    assert!(msg.contains("model.safetensors"), "{msg}");
    assert!(
        msg.contains("\"encoder.layer.0.attention.self.query.weight\" has shape [10, 384], expected [384, 384]"),
        "{msg}"
    );
    assert!(msg.contains("missing keys: embeddings.word_embeddings.weight"), "{msg}");
}

#[test]
fn bad_input_files_are_clear_errors() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in.safetensors");
    let path = input.to_str().unwrap();
    let model = model_dir();
    let model = model.to_str().unwrap();
    let embed = |extra: &[&str]| {
        let mut args = vec!["embed", "--model", model, "--input", path];
        args.extend_from_slice(extra);
        fails(&args)
    };

    let floats: Vec<u8> = [101.0f32, 102.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    write_ints(&input, &[("input_ids", Dtype::F32, vec![1, 2], floats)]);
    let msg = embed(&[]);
    assert!(
        msg.contains("in.safetensors") && msg.contains("\"input_ids\"") && msg.contains("F32"),
        "{msg}"
    );

    write_ints(
        &input,
        &[
            ("input_ids", Dtype::I64, vec![1, 3], i64_bytes(&[101, 7592, 102])),
            ("attention_mask", Dtype::I64, vec![1, 2], i64_bytes(&[1, 1])),
        ],
    );
    let msg = embed(&[]);
    assert!(
        msg.contains("\"attention_mask\" has shape [1, 2], but input_ids has [1, 3]"),
        "{msg}"
    );

    write_ints(
        &input,
        &[("input_ids", Dtype::I64, vec![1, 3], i64_bytes(&[101, 99999, 102]))],
    );
    let msg = embed(&[]);
    assert!(msg.contains("\"input_ids\" has 99999 at [0, 1]"), "{msg}");

    write_ints(
        &input,
        &[("input_ids", Dtype::I64, vec![3], i64_bytes(&[101, 7592, 102]))],
    );
    let msg = embed(&[]);
    assert!(
        msg.contains("\"input_ids\" has shape [3], expected [batch, seq]"),
        "{msg}"
    );

    write_ints(
        &input,
        &[("attention_mask", Dtype::I64, vec![1, 2], i64_bytes(&[1, 1]))],
    );
    let msg = embed(&[]);
    assert!(msg.contains("missing key \"input_ids\""), "{msg}");

    std::fs::write(&input, b"garbage").unwrap();
    let msg = embed(&[]);
    assert!(
        msg.contains("in.safetensors") && msg.contains("not a valid safetensors file"),
        "{msg}"
    );

    let msg = fails(&["embed", "--model", model, "--input", "/nonexistent/in.safetensors"]);
    assert!(msg.contains("/nonexistent/in.safetensors"), "{msg}");
}

#[test]
fn bench_writes_the_reference_fields_with_peft_parameter_counts() {
    // Not a timing test: one tiny step per mode, checking what the JSON reports.
    let dir = TempDir::new().unwrap();
    let model = model_dir();
    for (mode, trainable, total) in [
        ("infer", 0, 22_715_141),
        ("full", 22_715_141, 22_715_141),
        ("lora", 149_381, 22_862_597),
        ("dora", 158_597, 22_871_813),
    ] {
        let json = dir.path().join(format!("{mode}.json"));
        ok(&[
            "bench",
            "--model",
            model.to_str().unwrap(),
            "--mode",
            mode,
            "--batch",
            "2",
            "--seq",
            "8",
            "--warmup",
            "0",
            "--steps",
            "1",
            "--threads",
            "1",
            "--json",
            json.to_str().unwrap(),
        ]);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(v["tool"], "minbert");
        assert_eq!(v["mode"], mode);
        assert_eq!(v["trainable_params"], trainable, "{mode}");
        assert_eq!(v["total_params"], total, "{mode}");
        assert!(v["examples_per_s"].as_f64().unwrap() > 0.0);
        assert!(v["last_value"].as_f64().unwrap().is_finite());
        assert_eq!(v["rank"].is_null(), !matches!(mode, "lora" | "dora"));
    }
}
