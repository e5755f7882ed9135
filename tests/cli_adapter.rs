//! End-to-end runs of `minbert` with PEFT adapters: `embed --adapter` and `export --merged`
//! against PEFT's recorded outputs, `export --peft`, `info --adapter`, and the errors for broken
//! adapter directories.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use tempfile::TempDir;

fn variant_dir(variant: &str) -> PathBuf {
    fixtures_dir().join(variant)
}

fn adapter(variant: &str) -> String {
    variant_dir(variant).join("adapter").to_str().unwrap().to_string()
}

fn max_abs_diff(got: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(got.len(), expected.len());
    got.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// `minbert embed` on the fixture's batch, with extra arguments; the output file.
fn embed(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let (model, input) = (model_dir(), fixture());
    let mut args = vec![
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args);
    out
}

/// `last_hidden_state` and `pooler_output` of `out` against `expected`'s `{prefix}…` keys.
fn assert_matches(out: &Path, expected: &Path, prefix: &str) {
    for key in ["last_hidden_state", "pooler_output"] {
        let (shape, got) = floats(out, key);
        let (want_shape, want) = floats(expected, &format!("{prefix}{key}"));
        assert_eq!(shape, want_shape, "{key}");
        let diff = max_abs_diff(&got, &want);
        assert!(diff <= 1e-4, "{prefix}{key}: max abs diff {diff}");
    }
}

#[test]
fn embed_with_an_adapter_matches_peft() {
    let dir = TempDir::new().unwrap();
    for variant in ["lora", "dora", "rslora"] {
        let out = embed(
            dir.path(),
            &format!("{variant}.safetensors"),
            &["--adapter", &adapter(variant)],
        );
        assert_matches(&out, &variant_dir(variant).join("expected.safetensors"), "");
    }
}

#[test]
fn a_merged_export_loads_as_a_plain_checkpoint_with_the_adapters_outputs() {
    let dir = TempDir::new().unwrap();
    let merged = dir.path().join("merged");
    let model = model_dir();
    let stdout = ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--adapter",
        &adapter("lora"),
        "--merged",
        merged.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("LoRA, r 4, alpha 8, scaling 2, dropout 0, 37 modules"),
        "{stdout}"
    );
    for file in ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"] {
        assert!(merged.join(file).is_file(), "{file}");
    }
    // The base checkpoint's tensors (less the position-id buffer), no adapter keys.
    let names = |path: &Path| {
        let bytes = std::fs::read(path).unwrap();
        let mut names: Vec<String> = safetensors::SafeTensors::deserialize(&bytes)
            .unwrap()
            .names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        names.sort();
        names
    };
    let mut base = names(&model.join("model.safetensors"));
    base.retain(|n| n != "embeddings.position_ids");
    assert_eq!(names(&merged.join("model.safetensors")), base);

    let out = dir.path().join("out.safetensors");
    ok(&[
        "embed",
        "--model",
        merged.to_str().unwrap(),
        "--input",
        fixture().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_matches(&out, &variant_dir("lora").join("expected.safetensors"), "merged_");
    // The copied tokenizer works.
    ok(&[
        "embed",
        "--model",
        merged.to_str().unwrap(),
        "--text",
        "A merged model.",
    ]);
}

#[test]
fn a_peft_export_is_the_same_adapter() {
    let dir = TempDir::new().unwrap();
    let peft = dir.path().join("peft");
    let model = model_dir();
    ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--adapter",
        &adapter("dora"),
        "--peft",
        peft.to_str().unwrap(),
    ]);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(peft.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(config["use_dora"], true);
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["attention.output.dense", "key", "query", "value"])
    );
    let ours = embed(dir.path(), "ours.safetensors", &["--adapter", peft.to_str().unwrap()]);
    let theirs = embed(dir.path(), "theirs.safetensors", &["--adapter", &adapter("dora")]);
    assert_eq!(floats(&ours, "last_hidden_state"), floats(&theirs, "last_hidden_state"));
}

#[test]
fn info_counts_the_adapters_trainable_parameters() {
    let dir = TempDir::new().unwrap();
    let json = dir.path().join("info.json");
    let model = model_dir();
    let stdout = ok(&[
        "info",
        "--model",
        model.to_str().unwrap(),
        "--adapter",
        &adapter("lora"),
        "--json",
        json.to_str().unwrap(),
    ]);
    // r = 4 on 37 layers: r (in + out) each; 4 * 768 on the 384 -> 384 ones, 4 * 1920 on the FFN.
    let trainable = 6 * (4 * 4 * 768 + 2 * 4 * 1920) + 4 * 768;
    assert_eq!(trainable, 168_960);
    assert!(stdout.contains(&format!("trainable  {trainable:>12}")), "{stdout}");
    assert!(
        stdout.contains(&format!("total      {:>12}", 22_713_216 + trainable)),
        "{stdout}"
    );
    assert!(stdout.contains("\n  pooler.dense\n"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["params"]["trainable"], trainable);
    assert_eq!(v["params"]["adapter"], trainable);
    assert_eq!(v["adapter"]["modules"].as_array().unwrap().len(), 37);
    assert_eq!(v["adapter"]["scaling"], 2.0);
}

#[test]
fn broken_adapter_directories_are_clear_errors() {
    let model = model_dir();
    let model = model.to_str().unwrap();
    let embed = |adapter: &Path| {
        fails(&[
            "embed",
            "--model",
            model,
            "--input",
            fixture().to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
        ])
    };

    let msg = embed(Path::new("/nonexistent/adapter"));
    assert!(msg.contains("/nonexistent/adapter/adapter_config.json"), "{msg}");

    let dir = TempDir::new().unwrap();
    let copy = |config: &str| {
        std::fs::write(dir.path().join("adapter_config.json"), config).unwrap();
        std::fs::copy(
            variant_dir("lora").join("adapter/adapter_model.safetensors"),
            dir.path().join("adapter_model.safetensors"),
        )
        .unwrap();
    };
    let config = std::fs::read_to_string(variant_dir("lora").join("adapter/adapter_config.json")).unwrap();

    copy(&config.replace("\"loftq_config\": {}", "\"loftq_config\": {\"loftq_bits\": 4}"));
    let msg = embed(dir.path());
    assert!(
        msg.contains(
            "adapter_config.json: \"loftq_config\": is {\"loftq_bits\":4}: LoftQ initialisation is not supported"
        ),
        "{msg}"
    );

    // r = 8 in the config, but the file's tensors have rank 4.
    copy(&config.replace("\"r\": 4", "\"r\": 8"));
    let msg = embed(dir.path());
    assert!(msg.contains("adapter_model.safetensors: \"base_model.model.encoder.layer.0.attention.self.query.lora_A.weight\" has shape [4, 384], expected [8, 384]"), "{msg}");

    // DoRA asks for magnitude vectors the LoRA file does not have.
    copy(&config.replace("\"use_dora\": false", "\"use_dora\": true"));
    let msg = embed(dir.path());
    assert!(
        msg.contains("\"base_model.model.encoder.layer.0.attention.self.query.lora_magnitude_vector\" is missing"),
        "{msg}"
    );

    // Fewer targets than the file has tensors for.
    copy(&config.replace("\"dense\",\n", ""));
    let msg = embed(dir.path());
    assert!(msg.contains("\"base_model.model.encoder.layer.0.attention.output.dense.lora_A.weight\" belongs to none of the 18 modules"), "{msg}");

    copy(&config.replace("\"dense\",\n    \"key\",\n    \"query\",\n    \"value\"", "\"q_proj\""));
    let msg = fails(&["info", "--model", model, "--adapter", dir.path().to_str().unwrap()]);
    assert!(
        msg.contains("match none of the model's linear layers; available: encoder.layer.0.attention.self.query"),
        "{msg}"
    );

    let msg = fails(&[
        "export",
        "--model",
        model,
        "--adapter",
        &adapter("lora"),
        "--merged",
        model,
    ]);
    assert!(msg.contains("is the base model's directory"), "{msg}");
}

#[test]
fn adapters_merge_writes_an_adapter_that_embed_loads() {
    let dir = TempDir::new().unwrap();
    let merged = dir.path().join("merged");
    // `cat` is exact: weights 1 and 0 leave the first adapter's update alone.
    let stdout = ok(&[
        "adapters",
        "merge",
        "--adapter",
        &adapter("lora"),
        "--adapter",
        &adapter("rslora"),
        "--weights",
        "1,0",
        "--combination",
        "cat",
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(stdout.contains("merged 2 adapters (cat"), "{stdout}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(config["r"], 8);
    assert_eq!(config["lora_alpha"], 8);
    let out = embed(
        dir.path(),
        "merged.safetensors",
        &["--adapter", merged.to_str().unwrap()],
    );
    assert_matches(&out, &variant_dir("lora").join("expected.safetensors"), "");
}

#[test]
fn adapters_merge_refuses_adapters_of_other_base_models_naming_both() {
    let dir = TempDir::new().unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    for file in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(Path::new(&adapter("rslora")).join(file), other.join(file)).unwrap();
    }
    let config = other.join("adapter_config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("sentence-transformers/all-MiniLM-L6-v2", "bert-base-uncased"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let stderr = fails(&[
        "adapters",
        "merge",
        "--adapter",
        &adapter("lora"),
        "--adapter",
        other.to_str().unwrap(),
        "--combination",
        "linear",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains(&adapter("lora")) && stderr.contains(other.to_str().unwrap()),
        "{stderr}"
    );
    assert!(stderr.contains("adapters of different base models"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
    let stderr = fails(&[
        "adapters",
        "merge",
        "--adapter",
        &adapter("lora"),
        "--adapter",
        &adapter("rslora"),
        "--weights",
        "0.5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stderr.contains("--weights has 1 values for 2 adapters"), "{stderr}");
}
