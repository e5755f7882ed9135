//! burn-peft on a model that is not BERT (the `mlp_lora` example's MLP): training with AdamW
//! changes only the adapters, the adapter round-trips through PEFT files, merging is undone by
//! unmerging, and broken adapter directories are clear errors.

#[path = "common/files.rs"]
mod files;
#[path = "../examples/common/mlp.rs"]
mod mlp;

use std::path::Path;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use burn_peft::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LoadedAdapter, LoraConfig, LoraInit, TargetModules, Trainable,
    adapted_paths, count_params, inject_adapter, load_adapter, mark_trainable, merge_adapters, merged_linears,
    save_adapter, unmerge_adapters,
};
use mlp::{Mlp, task};
use tempfile::TempDir;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn config(use_dora: bool) -> LoraConfig {
    LoraConfig::new(TargetModules::Names(vec!["hidden".into(), "output".into()]))
        .with_r(4)
        .with_lora_alpha(8.0)
        .with_use_dora(use_dora)
}

/// Every base value (weights and biases of both layers), then every adapter value.
fn base_and_adapter_values(model: &Mlp) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut base = Vec::new();
    let mut adapter = Vec::new();
    for layer in [&model.hidden, &model.output] {
        base.push(values(layer.base.weight.val()));
        base.push(values(layer.base.bias.as_ref().unwrap().val()));
        let a = layer.adapter.as_ref().unwrap();
        adapter.push(values(a.lora_a.val()));
        adapter.push(values(a.lora_b.val()));
        if let Some(m) = &a.magnitude {
            adapter.push(values(m.val()));
        }
    }
    (base, adapter)
}

#[test]
fn adamw_trains_only_the_adapters_and_lowers_the_loss() {
    for use_dora in [false, true] {
        let device = Device::flex().autodiff();
        let mut model = Mlp::new(16, 64, 4, &device);
        let (x, y) = task(16, 4, 256, &device);
        let adapted = inject_adapter(&mut model, &config(use_dora)).unwrap();
        assert_eq!(adapted, ["hidden", "output"]);

        // A [in, r] and B [r, out] per layer, and m [out] with DoRA.
        let adapter_params = 16 * 4 + 4 * 64 + 64 * 4 + 4 * 4 + if use_dora { 64 + 4 } else { 0 };
        let total = 16 * 64 + 64 + 64 * 4 + 4 + adapter_params;
        assert_eq!(
            count_params(&model),
            burn_peft::ParamCount {
                trainable: adapter_params,
                total
            }
        );

        let (base_before, adapter_before) = base_and_adapter_values(&model);
        let mut optim = AdamWConfig::new().init();
        let first = model.mse(x.clone(), y.clone()).into_scalar::<f32>();
        for _ in 0..40 {
            let grads = model.mse(x.clone(), y.clone()).backward();
            for layer in [&model.hidden, &model.output] {
                assert!(layer.base.weight.grad(&grads).is_none());
                assert!(layer.base.bias.as_ref().unwrap().grad(&grads).is_none());
            }
            let grads = GradientsParams::from_grads(grads, &model);
            // The optimizer only keeps state for parameters with a gradient: the adapters'.
            assert_eq!(grads.len(), if use_dora { 6 } else { 4 });
            model = optim.step(1e-2, model, grads);
        }
        let last = model.mse(x.clone(), y.clone()).into_scalar::<f32>();
        assert!(last < 0.7 * first, "dora {use_dora}: mse {first} -> {last}");

        let (base_after, adapter_after) = base_and_adapter_values(&model);
        assert_eq!(base_after, base_before, "dora {use_dora}: the base changed");
        for (after, before) in adapter_after.iter().zip(&adapter_before) {
            assert_ne!(after, before, "dora {use_dora}: an adapter tensor did not train");
        }
    }
}

#[test]
fn the_base_can_stay_trainable() {
    let device = Device::flex().autodiff();
    let mut model = Mlp::new(16, 64, 4, &device);
    let (x, y) = task(16, 4, 64, &device);
    inject_adapter(&mut model, &config(false)).unwrap();
    mark_trainable(&mut model, Trainable::All);
    let count = count_params(&model);
    assert_eq!(count.trainable, count.total);
    let grads = model.mse(x.clone(), y.clone()).backward();
    assert!(model.hidden.base.weight.grad(&grads).is_some());
    assert!(model.output.adapter.as_ref().unwrap().lora_b.grad(&grads).is_some());

    mark_trainable(&mut model, Trainable::Adapters);
    let grads = model.mse(x, y).backward();
    assert!(model.hidden.base.weight.grad(&grads).is_none());
    assert!(model.hidden.adapter.as_ref().unwrap().lora_a.grad(&grads).is_some());
}

/// A base MLP and the same MLP with a non-trivial adapter (B random, so it changes outputs).
fn adapted_pair(use_dora: bool, device: &Device) -> (Mlp, Mlp, LoraConfig) {
    let base = Mlp::new(16, 64, 4, device);
    let config = config(use_dora).with_init_lora_weights(LoraInit::Random);
    let mut adapted = base.clone();
    inject_adapter(&mut adapted, &config).unwrap();
    (base, adapted, config)
}

#[test]
fn a_saved_adapter_loads_back_to_the_same_model() {
    let device = Device::flex();
    let x = Tensor::<2>::random([8, 16], Distribution::Normal(0.0, 1.0), &device);
    for use_dora in [false, true] {
        let (base, adapted, config) = adapted_pair(use_dora, &device);
        let dir = TempDir::new().unwrap();
        save_adapter(&adapted, &config, dir.path()).unwrap();

        let mut keys: Vec<(String, Vec<usize>)> = files::read(&dir.path().join(ADAPTER_WEIGHTS_FILE))
            .into_iter()
            .map(|t| (t.name, t.shape))
            .collect();
        keys.sort();
        let mut want = vec![
            ("base_model.model.hidden.lora_A.weight".to_string(), vec![4, 16]),
            ("base_model.model.hidden.lora_B.weight".to_string(), vec![64, 4]),
            ("base_model.model.output.lora_A.weight".to_string(), vec![4, 64]),
            ("base_model.model.output.lora_B.weight".to_string(), vec![4, 4]),
        ];
        if use_dora {
            want.push(("base_model.model.hidden.lora_magnitude_vector".to_string(), vec![64]));
            want.push(("base_model.model.output.lora_magnitude_vector".to_string(), vec![4]));
            want.sort();
        }
        assert_eq!(keys, want);

        let mut loaded = base.clone();
        let (loaded_config, paths) = load_adapter(&mut loaded, dir.path()).unwrap();
        assert_eq!(loaded_config, config);
        assert_eq!(paths, ["hidden", "output"]);
        assert_eq!(values(loaded.forward(x.clone())), values(adapted.forward(x.clone())));
        assert_ne!(values(base.forward(x.clone())), values(adapted.forward(x.clone())));

        let described = LoadedAdapter::load(&mut base.clone(), dir.path()).unwrap();
        let kind = if use_dora { "DoRA" } else { "LoRA" };
        assert!(
            described.summary().starts_with(&format!("{kind}, r 4, ")),
            "{}",
            described.summary()
        );
        assert!(described.summary().ends_with(", 2 modules"), "{}", described.summary());
        let json = described.to_json();
        assert_eq!(
            (json["r"].as_u64(), json["use_dora"].as_bool()),
            (Some(4), Some(use_dora))
        );
        assert_eq!(json["scaling"].as_f64(), Some(config.scaling()));
        assert_eq!(json["modules"], serde_json::json!(["hidden", "output"]));
        assert_eq!(json["rank_pattern"], serde_json::json!({}));
    }
}

#[test]
fn saving_with_a_config_that_does_not_describe_the_adapters_is_an_error() {
    let (_, adapted, config) = adapted_pair(false, &Device::flex());
    let dir = TempDir::new().unwrap();
    let only_hidden = LoraConfig {
        target_modules: TargetModules::Names(vec!["hidden".into()]),
        ..config.clone()
    };
    let err = save_adapter(&adapted, &only_hidden, dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("select 1 layers (hidden), but the model has adapters on 2 (hidden, output)"),
        "{err}"
    );
    let err = save_adapter(&adapted, &config.clone().with_r(8), dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("hidden: the adapter (r 4, scaling 2, LoRA) is not the config's (r 8, scaling 1, LoRA)"),
        "{err}"
    );
    assert!(!dir.path().join(ADAPTER_CONFIG_FILE).exists());
}

#[test]
fn merge_then_unmerge_restores_the_base_weights() {
    let device = Device::flex();
    let x = Tensor::<2>::random([8, 16], Distribution::Normal(0.0, 1.0), &device);
    for use_dora in [false, true] {
        let (base, mut adapted, _) = adapted_pair(use_dora, &device);
        let before = values(adapted.forward(x.clone()));
        let exported = merged_linears(&adapted);
        assert_eq!(
            exported.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            ["hidden", "output"]
        );

        merge_adapters(&mut adapted);
        assert!(
            max_diff(&values(adapted.forward(x.clone())), &before) < 1e-5,
            "dora {use_dora}"
        );
        assert_eq!(
            values(adapted.hidden.base.weight.val()),
            values(exported[0].1.weight.val())
        );
        assert_ne!(
            values(adapted.hidden.base.weight.val()),
            values(base.hidden.base.weight.val())
        );

        unmerge_adapters(&mut adapted);
        for (got, want) in [(&adapted.hidden, &base.hidden), (&adapted.output, &base.output)] {
            let diff = max_diff(&values(got.base.weight.val()), &values(want.base.weight.val()));
            assert!(diff < 1e-6, "dora {use_dora}: unmerged weight off by {diff}");
            assert_eq!(
                values(got.base.bias.as_ref().unwrap().val()),
                values(want.base.bias.as_ref().unwrap().val())
            );
        }
        assert!(max_diff(&values(adapted.forward(x.clone())), &before) < 1e-5);
    }
}

#[test]
fn adapting_a_layer_twice_is_an_error() {
    let (_, mut adapted, config) = adapted_pair(false, &Device::flex());
    let err = inject_adapter(&mut adapted, &config).unwrap_err().to_string();
    assert_eq!(err, "hidden already has an adapter (burn-peft holds one per layer)");
}

fn copy_adapter(from: &Path, to: &Path) {
    for file in [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

#[test]
fn broken_adapter_directories_are_errors_naming_file_and_key() {
    let (base, adapted, config) = adapted_pair(true, &Device::flex());
    let good = TempDir::new().unwrap();
    save_adapter(&adapted, &config, good.path()).unwrap();
    let tensors = files::read(&good.path().join(ADAPTER_WEIGHTS_FILE));
    let load = |dir: &Path| {
        let mut model = base.clone();
        let err = load_adapter(&mut model, dir).unwrap_err().to_string();
        // Nothing is attached when loading fails.
        assert!(adapted_paths(&model).is_empty());
        err
    };
    let dir = TempDir::new().unwrap();
    let weights = dir.path().join(ADAPTER_WEIGHTS_FILE);
    let rewrite = |edit: &dyn Fn(&mut Vec<files::Stored>)| {
        copy_adapter(good.path(), dir.path());
        let mut t = tensors.clone();
        edit(&mut t);
        files::write(&weights, &t);
    };

    rewrite(&|t| t.retain(|t| t.name != "base_model.model.output.lora_B.weight"));
    let err = load(dir.path());
    assert!(
        err.contains(ADAPTER_WEIGHTS_FILE) && err.contains("\"base_model.model.output.lora_B.weight\" is missing"),
        "{err}"
    );

    rewrite(&|t| {
        let a = t
            .iter_mut()
            .find(|t| t.name == "base_model.model.hidden.lora_A.weight")
            .unwrap();
        a.shape = vec![16, 4];
    });
    let err = load(dir.path());
    assert!(
        err.contains("\"base_model.model.hidden.lora_A.weight\" has shape [16, 4], expected [4, 16]"),
        "{err}"
    );

    rewrite(&|t| {
        t.push(files::Stored {
            name: "base_model.model.extra.lora_A.weight".into(),
            shape: vec![1],
            values: vec![0.0],
        })
    });
    let err = load(dir.path());
    assert!(
        err.contains("\"base_model.model.extra.lora_A.weight\" belongs to none of the 2 modules"),
        "{err}"
    );

    copy_adapter(good.path(), dir.path());
    std::fs::write(&weights, b"not safetensors").unwrap();
    let err = load(dir.path());
    assert!(
        err.contains(ADAPTER_WEIGHTS_FILE) && err.contains("not a valid safetensors file"),
        "{err}"
    );

    copy_adapter(good.path(), dir.path());
    let config_path = dir.path().join(ADAPTER_CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("\"use_qalora\": false", "\"use_qalora\": true");
    std::fs::write(&config_path, text).unwrap();
    let err = load(dir.path());
    assert!(
        err.starts_with(&format!("{}: \"use_qalora\": is true", config_path.display())),
        "{err}"
    );

    std::fs::write(
        &config_path,
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\"]}",
    )
    .unwrap();
    let err = load(dir.path());
    assert!(
        err.contains("match none of the model's linear layers; available: hidden, output"),
        "{err}"
    );

    std::fs::write(&config_path, "{").unwrap();
    let err = load(dir.path());
    assert!(
        err.contains(ADAPTER_CONFIG_FILE) && err.contains("not valid JSON"),
        "{err}"
    );

    let err = load(&dir.path().join("nonexistent"));
    assert!(err.contains("nonexistent/adapter_config.json"), "{err}");
}
