//! LoRA on a `burn::nn::Embedding` through [`PeftModel`] (the weight-space path), against PEFT's
//! recording in `tests/fixtures/peft-embedding`: its adapter files load and give its outputs,
//! merged or not; new adapters start as PEFT's do and are written under PEFT's names.

#[path = "common/files.rs"]
mod files;

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear};
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_peft::{AdapterWeights, LayerKind, LoraConfig, PeftModel, PeftWeight, TargetModules, get_peft_model};
use files::Stored;
use tempfile::TempDir;

/// record.py's `TinyEmb`: `proj(embed(ids))`.
#[derive(Module, Debug)]
struct TinyEmb {
    embed: Embedding,
    proj: Linear,
}

impl TinyEmb {
    fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.proj.forward(self.embed.forward(ids))
    }
}

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/peft-embedding")
        .join(path)
}

fn tensors(path: &str) -> BTreeMap<String, Stored> {
    files::read(&fixture(path))
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect()
}

fn base_model(device: &Device) -> TinyEmb {
    let base = tensors("base.safetensors");
    TinyEmb {
        embed: Embedding {
            weight: Param::from_tensor(base["embed.weight"].to_tensor(device)),
        },
        proj: Linear {
            weight: Param::from_tensor(base["proj.weight"].to_linear_weight(device)),
            bias: Some(Param::from_tensor(base["proj.bias"].to_tensor(device))),
        },
    }
}

/// record.py's ids.
fn ids(device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = vec![1, 4, 0, 9, 3, 7, 7, 2, 5, 8];
    Tensor::from_data(TensorData::new(ids, [2, 5]), device)
}

fn y(model: &TinyEmb, device: &Device) -> Vec<f32> {
    model
        .forward(ids(device))
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

fn max_diff_to(got: &[f32], file: &str, name: &str) -> f32 {
    let want = &tensors(file)[name].values;
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

#[test]
fn peft_embedding_adapters_load_and_give_peft_outputs_merged_or_not() {
    let device = Device::flex();
    assert!(max_diff_to(&y(&base_model(&device), &device), "base.safetensors", "y_base") < 1e-6);
    for (name, output) in [("lora", "y_lora"), ("init", "y_init")] {
        let peft = PeftModel::from_pretrained(base_model(&device), &fixture(&format!("adapters/{name}"))).unwrap();
        assert_eq!(peft.targets("default").unwrap(), ["embed", "proj"]);
        assert!(
            max_diff_to(&y(peft.model(), &device), "outputs.safetensors", output) < 1e-5,
            "{name}"
        );
        if name == "lora" {
            assert!(max_diff_to(&y(peft.model(), &device), "base.safetensors", "y_base") > 1e-2);
            let merged = peft.merge_and_unload();
            assert!(max_diff_to(&y(&merged, &device), "outputs.safetensors", "y_lora_merged") < 1e-5);
        }
    }
}

#[test]
fn a_backward_pass_gives_peft_gradients_for_the_embedding_and_linear_factors() {
    let device = Device::flex().autodiff();
    let peft = PeftModel::from_pretrained(base_model(&device), &fixture("adapters/lora")).unwrap();
    let y = peft.model().forward(ids(&device));
    let grads = y.square().sum().backward();
    let model = peft.model();
    let outputs = tensors("outputs.safetensors");
    for (module, weight, [a_name, b_name]) in [
        ("embed", &model.embed.weight, LayerKind::Embedding.factor_names()),
        ("proj", &model.proj.weight, LayerKind::Linear.factor_names()),
    ] {
        let adapter = &weight.reparameterization::<PeftWeight>().unwrap().adapters[0];
        // Burn's factors are PEFT's transposed.
        for (factor, name) in [(&adapter.lora_a, a_name), (&adapter.lora_b, b_name)] {
            let grad = factor.val().grad(&grads).unwrap().transpose();
            let got: Vec<f32> = grad.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
            let want = &outputs[&format!("grad_{module}.{name}")].values;
            let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            let diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(diff / scale < 1e-5, "{module}.{name}: {diff} of {scale}");
        }
        assert!(weight.val().grad(&grads).is_none(), "{module}'s base weight is frozen");
    }
}

#[test]
fn an_embedding_adapter_is_written_under_peft_names_and_reads_back() {
    let device = Device::flex();
    let dir = fixture("adapters/lora");
    let recorded = AdapterWeights::read(&dir).unwrap();
    assert_eq!(recorded.modules["embed"].kind, LayerKind::Embedding);
    assert_eq!(recorded.modules["proj"].kind, LayerKind::Linear);
    let mut peft = PeftModel::from_pretrained(base_model(&device), &dir).unwrap();
    let out = TempDir::new().unwrap();
    peft.save_pretrained(out.path()).unwrap();
    assert_eq!(AdapterWeights::read(out.path()).unwrap().modules, recorded.modules);
    let mut written: Vec<(String, Vec<usize>)> = files::read(&out.path().join("adapter_model.safetensors"))
        .into_iter()
        .map(|t| (t.name, t.shape))
        .collect();
    written.sort();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("manifest.json")).unwrap()).unwrap();
    let peft_keys: Vec<(String, Vec<usize>)> =
        serde_json::from_value::<BTreeMap<String, Vec<usize>>>(manifest["keys"].clone())
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(written, peft_keys);
}

#[test]
fn a_new_embedding_adapter_starts_as_peft_with_a_zero_and_b_normal() {
    let device = Device::flex();
    let config = LoraConfig::new(TargetModules::Names(vec!["embed".into(), "proj".into()]))
        .with_r(2)
        .with_lora_alpha(4.0);
    let mut peft = get_peft_model(base_model(&device), config).unwrap();
    assert!(max_diff_to(&y(peft.model(), &device), "base.safetensors", "y_base") < 1e-6);
    let weights = peft.weights("default").unwrap();
    let embed = &weights.modules["embed"];
    assert!(embed.lora_a.iter().all(|&v| v == 0.0), "A starts at zero");
    assert!(embed.lora_b.iter().all(|v| v.abs() < 6.0) && embed.lora_b.iter().any(|&v| v != 0.0));
    // PEFT's recorded start has the same pattern.
    let init = AdapterWeights::read(&fixture("adapters/init")).unwrap();
    assert!(init.modules["embed"].lora_a.iter().all(|&v| v == 0.0));
    assert!(init.modules["proj"].lora_b.iter().all(|&v| v == 0.0));
}

#[test]
fn all_linear_leaves_the_embedding_out_and_unsupported_starts_are_refused() {
    let device = Device::flex();
    let peft = get_peft_model(base_model(&device), LoraConfig::new(TargetModules::AllLinear)).unwrap();
    assert_eq!(peft.targets("default").unwrap(), ["proj"]);
    let embed = || LoraConfig::new(TargetModules::Names(vec!["embed".into()]));
    for (config, expected) in [
        (
            embed().with_use_dora(true),
            "\"use_dora\": DoRA on the embedding embed is not supported by burn-peft",
        ),
        (
            embed().with_init_lora_weights(burn_peft::LoraInit::Pissa),
            "\"init_lora_weights\": Pissa on the embedding embed is not supported by burn-peft",
        ),
    ] {
        let Err(err) = get_peft_model(base_model(&device), config) else {
            panic!("{expected}: accepted");
        };
        assert_eq!(err.to_string(), expected);
    }
}
