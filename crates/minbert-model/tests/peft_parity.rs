//! Parity with Hugging Face PEFT on the recorded adapters of `tests/fixtures/hf-parity`
//! (`lora/`, `dora/`, `rslora/`): outputs, merged weights and outputs, and one training step
//! (loss and every gradient), all in eval mode; plus saving the adapters back in PEFT's format
//! and merging on the real encoder. Tolerances are the fixtures' README's.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_peft::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, AdaptableModel, count_params, load_adapter, merge_adapters,
    merged_linears, save_adapter, unmerge_adapters,
};
use common::{EvalMode, Fixture, masked_max_diff, max_abs_diff, values};
use minbert_model::{BertModel, HfTensor, load_pretrained, read_safetensors};
use minbert_testkit::{fixtures_dir, gpu_device, model_dir};
use serde_json::Value;
use tempfile::TempDir;

fn adapter_dir(variant: &str) -> PathBuf {
    fixtures_dir().join(variant).join("adapter")
}

/// The base model with the fixture's adapter loaded from its PEFT files.
fn adapted(variant: &str, device: &Device) -> BertModel {
    let (_, mut model) = load_pretrained(&model_dir(), device).unwrap();
    let (_, paths) = load_adapter(&mut model, &adapter_dir(variant)).unwrap();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join("manifest.json")).unwrap()).unwrap();
    let expected: Vec<String> = serde_json::from_value(manifest[variant]["adapted_modules"].clone()).unwrap();
    assert_eq!(paths, expected, "{variant}: adapted modules");
    model
}

/// Checks the last hidden state (all positions) and the pooler output against `prefix`-ed
/// expected keys.
fn check_outputs(model: &BertModel, expected: &Fixture, prefix: &str, label: &str) {
    let base = Fixture::read(&fixtures_dir().join("base.safetensors"));
    let out = model.forward(base.input(&model.embeddings.word_embeddings.weight.val().device()));
    let (_, want) = expected.floats(&format!("{prefix}last_hidden_state"));
    let (_, mask) = base.ints("attention_mask");
    let got = values(out.last_hidden_state);
    let hidden = max_abs_diff(&got, &want);
    let hidden_unpadded = masked_max_diff(&got, &want, &mask, 384);
    let (_, want) = expected.floats(&format!("{prefix}pooler_output"));
    let pooled = max_abs_diff(&values(out.pooler_output.unwrap()), &want);
    println!("{label}: last_hidden_state {hidden:.2e} (unpadded {hidden_unpadded:.2e}), pooler_output {pooled:.2e}");
    assert!(hidden <= 1e-4, "{label}: last_hidden_state max abs diff {hidden}");
    assert!(pooled <= 1e-4, "{label}: pooler_output max abs diff {pooled}");
}

fn check_merged_weights(model: &BertModel, expected: &Fixture, label: &str) {
    let merged = merged_linears(model);
    let mut checked = 0;
    for key in expected.keys().into_iter().filter(|k| k.starts_with("merged.")) {
        let path = key.strip_prefix("merged.").unwrap().strip_suffix(".weight").unwrap();
        let (_, linear) = merged.iter().find(|(p, _)| p == path).unwrap();
        let got = HfTensor::linear_weight(key.clone(), linear.weight.val());
        let (shape, want) = expected.floats(&key);
        assert_eq!(got.shape, shape);
        let diff = max_abs_diff(&got.values, &want);
        println!("{label}: {key} {diff:.2e}");
        assert!(diff <= 1e-5, "{label}: {key} max abs diff {diff}");
        checked += 1;
    }
    assert!(checked > 0);
}

fn outputs_and_merge_match_peft(variant: &str, device: &Device) {
    let expected = Fixture::read(&fixtures_dir().join(variant).join("expected.safetensors"));
    let mut model = adapted(variant, device);
    check_outputs(&model, &expected, "", variant);
    if expected.keys().iter().any(|k| k == "merged_last_hidden_state") {
        check_merged_weights(&model, &expected, variant);
        let base: Vec<Vec<f32>> = model
            .linear_paths()
            .iter()
            .map(|p| values(model.adapted_linear(p).unwrap().base.weight.val()))
            .collect();
        merge_adapters(&mut model);
        check_outputs(&model, &expected, "merged_", &format!("{variant} merged"));
        unmerge_adapters(&mut model);
        check_outputs(&model, &expected, "", &format!("{variant} unmerged"));
        for (path, before) in model.linear_paths().iter().zip(&base) {
            let diff = max_abs_diff(&values(model.adapted_linear(path).unwrap().base.weight.val()), before);
            assert!(diff <= 1e-6, "{variant}: {path} unmerged off by {diff}");
        }
    }
}

#[test]
fn lora_matches_peft() {
    outputs_and_merge_match_peft("lora", &Device::flex());
}

#[test]
fn dora_matches_peft() {
    outputs_and_merge_match_peft("dora", &Device::flex());
}

/// The adapters on the wgpu backend (lavapipe in CI): outputs, merge and unmerge as on the CPU.
#[test]
fn lora_and_dora_match_peft_on_the_gpu() {
    if let Some(device) = gpu_device() {
        outputs_and_merge_match_peft("lora", &device);
        outputs_and_merge_match_peft("dora", &device);
    }
}

#[test]
fn rslora_matches_peft() {
    let config = burn_peft::read_adapter_config(&adapter_dir("rslora").join(ADAPTER_CONFIG_FILE)).unwrap();
    assert_eq!(config.scaling(), 4.0);
    outputs_and_merge_match_peft("rslora", &Device::flex());
}

/// The fixture's training step: `logits = head(pooler_output)`, mean cross-entropy with
/// `labels`, backward; loss, logits and every adapter and head gradient against PEFT's.
/// Returns the gradients.
fn training_step_matches_peft(variant: &str, device: &Device) -> Vec<HfTensor> {
    let device = device.clone().autodiff();
    let expected = Fixture::read(&fixtures_dir().join(variant).join("expected.safetensors"));
    let base = Fixture::read(&fixtures_dir().join("base.safetensors"));
    let model = adapted(variant, &device).map(&mut EvalMode);
    let hf = |key: &str| {
        let (shape, values) = expected.floats(key);
        HfTensor {
            name: key.into(),
            shape,
            values,
        }
    };
    let head = Linear {
        weight: Param::from_tensor(hf("head.weight").to_linear_weight(&device)),
        bias: Some(Param::from_tensor(hf("head.bias").to_tensor(&device))),
    };
    let (_, labels) = expected.ints("labels");
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [6]), &device);

    let logits = head.forward(model.forward(base.input(&device)).pooler_output.unwrap());
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits.clone(), labels);
    let (_, want) = expected.floats("logits");
    let logits_diff = max_abs_diff(&values(logits), &want);
    let loss_value = loss.clone().into_scalar::<f32>();
    let loss_diff = (loss_value - expected.floats("loss").1[0]).abs();
    println!("{variant} step: loss {loss_value} (diff {loss_diff:.2e}), logits {logits_diff:.2e}");
    assert!(
        logits_diff <= 1e-4 && loss_diff <= 1e-4,
        "{variant}: logits {logits_diff}, loss {loss_diff}"
    );

    let mut grads = loss.backward();
    // Every adapter gradient, under PEFT's key names and layouts, then the head's.
    let mut got: Vec<HfTensor> = Vec::new();
    for path in burn_peft::adapted_paths(&model) {
        let adapter = model.adapted_linear(&path).unwrap().adapter.as_ref().unwrap();
        let key = |name: &str| format!("base_model.model.{path}.{name}.grad");
        got.push(HfTensor::linear_weight(
            key("lora_A.weight"),
            adapter.lora_a.grad(&grads).unwrap(),
        ));
        got.push(HfTensor::linear_weight(
            key("lora_B.weight"),
            adapter.lora_b.grad(&grads).unwrap(),
        ));
        if let Some(m) = &adapter.magnitude {
            got.push(HfTensor::new(key("lora_magnitude_vector"), m.grad(&grads).unwrap()));
        }
    }
    got.push(HfTensor::linear_weight(
        "head.weight.grad",
        head.weight.grad(&grads).unwrap(),
    ));
    got.push(HfTensor::new(
        "head.bias.grad",
        head.bias.as_ref().unwrap().grad(&grads).unwrap(),
    ));
    let expected_keys: BTreeSet<String> = expected.keys().into_iter().filter(|k| k.ends_with(".grad")).collect();
    assert_eq!(
        got.iter().map(|t| t.name.clone()).collect::<BTreeSet<_>>(),
        expected_keys
    );
    let mut worst = (0.0f32, String::new());
    for t in &got {
        let (shape, want) = expected.floats(&t.name);
        assert_eq!(t.shape, shape, "{}", t.name);
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let relative = max_abs_diff(&t.values, &want) / scale;
        assert!(
            relative <= 1e-3,
            "{variant}: {} max abs diff {relative} x max |expected|",
            t.name
        );
        if relative > worst.0 {
            worst = (relative, t.name.clone());
        }
    }
    println!(
        "{variant} step: {} gradients, worst relative diff {:.2e} ({})",
        got.len(),
        worst.0,
        worst.1
    );

    // Only the adapters and the head have gradients: the base is frozen.
    let layer = model.adapted_linear("encoder.layer.0.attention.self.query").unwrap();
    assert!(layer.base.weight.grad(&grads).is_none());
    assert!(model.embeddings.word_embeddings.weight.grad(&grads).is_none());
    let params = GradientsParams::from_module(&mut grads, &model);
    assert_eq!(params.len(), expected_keys.len() - 2);
    got
}

#[test]
fn lora_training_step_matches_peft() {
    training_step_matches_peft("lora", &Device::flex());
}

#[test]
fn dora_training_step_matches_peft() {
    training_step_matches_peft("dora", &Device::flex());
}

/// One training step on the wgpu backend: PEFT's gradients as on the CPU, and the CPU
/// backend's own within 1e-4 of each gradient's largest value.
#[test]
fn a_training_step_on_the_gpu_gives_the_cpu_gradients() {
    let Some(gpu) = gpu_device() else { return };
    for variant in ["lora", "dora"] {
        let on_gpu = training_step_matches_peft(variant, &gpu);
        let on_cpu = training_step_matches_peft(variant, &Device::flex());
        assert_eq!(on_gpu.len(), on_cpu.len());
        for (g, c) in on_gpu.iter().zip(&on_cpu) {
            assert_eq!((&g.name, &g.shape), (&c.name, &c.shape));
            let scale = c.values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let relative = max_abs_diff(&g.values, &c.values) / scale;
            assert!(
                relative <= 1e-4,
                "{variant}: {} GPU vs CPU {relative} x max |grad|",
                g.name
            );
        }
    }
}

#[test]
fn an_optimizer_step_changes_only_the_adapters() {
    let device = Device::flex().autodiff();
    let base = Fixture::read(&fixtures_dir().join("base.safetensors"));
    let mut model = adapted("dora", &device);
    let count = count_params(&model);
    // 24 layers of 384 -> 384 with r = 4: A, B and m.
    assert_eq!(count.trainable, 24 * (4 * 384 + 384 * 4 + 384));
    assert_eq!(count.total, 22_713_216 + count.trainable);

    let before = all_params(&model);
    let loss = model
        .forward(base.input(&device))
        .last_hidden_state
        .powi_scalar(2)
        .mean();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    model = AdamWConfig::new().init().step(1e-3, model, grads);
    let after = all_params(&model);
    assert_eq!(after.len(), before.len());
    let mut changed = 0;
    for ((path, new), (_, old)) in after.iter().zip(&before) {
        let is_adapter = path.contains(".adapter.");
        assert_eq!(new != old, is_adapter, "{path}: changed {}", new != old);
        changed += is_adapter as usize;
    }
    assert_eq!(changed, 24 * 3);
}

/// Every parameter with its Burn module path, in visiting order.
fn all_params(model: &BertModel) -> Vec<(String, Vec<f32>)> {
    #[derive(Default)]
    struct Collect {
        path: Vec<String>,
        params: Vec<(String, Vec<f32>)>,
    }
    impl burn::module::ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.params.push((self.path.join("."), values(param.val())));
        }
    }
    let mut collect = Collect::default();
    model.visit(&mut collect);
    collect.params
}

#[test]
fn saved_adapters_are_peft_files_that_load_back_the_same() {
    let device = Device::flex();
    let base = Fixture::read(&fixtures_dir().join("base.safetensors"));
    for variant in ["lora", "dora", "rslora"] {
        let model = adapted(variant, &device);
        let config = burn_peft::read_adapter_config(&adapter_dir(variant).join(ADAPTER_CONFIG_FILE)).unwrap();
        let dir = TempDir::new().unwrap();
        save_adapter(&model, &config, dir.path()).unwrap();

        // PEFT's keys and values, as PEFT wrote them (auto_mapping names the PyTorch class that
        // PEFT wrapped; burn-peft has none to name).
        let read = |path: PathBuf| -> serde_json::Map<String, Value> {
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let ours = read(dir.path().join(ADAPTER_CONFIG_FILE));
        let peft = read(adapter_dir(variant).join(ADAPTER_CONFIG_FILE));
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            peft.keys().collect::<Vec<_>>(),
            "{variant}"
        );
        for (key, value) in &peft {
            if key != "auto_mapping" {
                assert_eq!(&ours[key], value, "{variant}: {key}");
            }
        }
        // The same tensors under the same keys.
        let saved = read_safetensors(&dir.path().join(ADAPTER_WEIGHTS_FILE)).unwrap();
        assert_eq!(
            saved,
            read_safetensors(&adapter_dir(variant).join(ADAPTER_WEIGHTS_FILE)).unwrap(),
            "{variant}"
        );

        let (_, mut reloaded) = load_pretrained(&model_dir(), &device).unwrap();
        load_adapter(&mut reloaded, dir.path()).unwrap();
        let out = |m: &BertModel| values(m.forward(base.input(&device)).last_hidden_state);
        assert_eq!(out(&reloaded), out(&model), "{variant}");
    }
}

#[test]
fn a_merged_checkpoint_computes_what_the_adapter_does() {
    let device = Device::flex();
    let expected = Fixture::read(&fixtures_dir().join("dora/expected.safetensors"));
    let model = adapted("dora", &device);
    let dir = TempDir::new().unwrap();
    std::fs::copy(model_dir().join("config.json"), dir.path().join("config.json")).unwrap();
    minbert_model::save_safetensors(&dir.path().join("model.safetensors"), &model.to_hf_tensors()).unwrap();
    let (_, merged) = load_pretrained(dir.path(), &device).unwrap();
    assert!(burn_peft::adapted_paths(&merged).is_empty());
    check_outputs(&merged, &expected, "merged_", "dora merged checkpoint");
}

#[test]
fn dense_targets_every_dense_layer_and_the_pooler() {
    let (_, mut model) = load_pretrained(&model_dir(), &Device::flex()).unwrap();
    let config = burn_peft::LoraConfig::new(burn_peft::TargetModules::Names(vec!["dense".into()]));
    let paths = burn_peft::inject_adapter(&mut model, &config).unwrap();
    assert_eq!(paths.len(), 6 * 3 + 1);
    assert!(paths.iter().all(|p| p.ends_with(".dense")));
    assert_eq!(paths.last().unwrap(), "pooler.dense");
    let err = burn_peft::inject_adapter(
        &mut load_pretrained(&model_dir(), &Device::flex()).unwrap().1,
        &burn_peft::LoraConfig::new(burn_peft::TargetModules::Names(vec!["q_proj".into()])),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("available: encoder.layer.0.attention.self.query, "),
        "{err}"
    );
}
