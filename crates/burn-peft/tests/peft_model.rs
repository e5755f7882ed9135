//! `PeftModel` (adapters as weight reparameterizations, on a model of plain burn-nn `Linear`s)
//! against the outputs PEFT recorded in `tests/fixtures/peft-tiny`, and against the
//! activation-space `AdaptedLinear` (outputs and gradients).

#[path = "common/tiny.rs"]
mod tiny;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};
use burn_peft::{
    AdaptableModel, AdaptedLinear, AdapterWeights, DEFAULT_ADAPTER, ExcludeModules, LoraConfig, LoraInit, PeftBias,
    PeftModel, PeftWeight, TargetModules, get_peft_model, load_adapter,
};
use tempfile::TempDir;
use tiny::{Tiny, as_adapter_config, base_model, fixture, input, manifest, max_diff, output, tensors, values};

const ADAPTERS: [&str; 7] = [
    "lora",
    "lora_b",
    "lora_r3",
    "rslora",
    "dora",
    "exclude",
    "exclude_regex",
];

fn y(peft: &PeftModel<Tiny>, device: &Device) -> Vec<f32> {
    values(peft.model().forward(input(device)))
}

#[test]
fn every_peft_adapter_loads_and_gives_peft_outputs_merged_or_not() {
    let device = Device::flex();
    for name in ADAPTERS {
        let peft = PeftModel::from_pretrained(base_model(&device), &fixture(&format!("adapters/{name}"))).unwrap();
        let expected = output(&format!("y_{name}"));
        assert!(max_diff(&y(&peft, &device), &expected) < 1e-5, "{name}");
        assert!(
            max_diff(&expected, &output("y_base")) > 1e-2,
            "{name} changes the output"
        );
        let merged = peft.merge_and_unload();
        assert!(merged.proj_in.weight.reparameterization::<PeftWeight>().is_none());
        let y_merged = values(merged.forward(input(&device)));
        assert!(
            max_diff(&y_merged, &output(&format!("y_{name}_merged"))) < 1e-5,
            "{name} merged"
        );
    }
}

/// The same model with `AdaptedLinear`s: the activation-space path.
#[derive(Module, Debug)]
struct TinyAdapted {
    proj_in: AdaptedLinear,
    proj_out: AdaptedLinear,
}

impl TinyAdapted {
    fn new(base: Tiny) -> Self {
        Self {
            proj_in: base.proj_in.into(),
            proj_out: base.proj_out.into(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.proj_out
            .forward(burn::tensor::activation::relu(self.proj_in.forward(x)))
    }
}

impl AdaptableModel for TinyAdapted {
    fn linear_paths(&self) -> Vec<String> {
        vec!["proj_in".into(), "proj_out".into()]
    }
    fn adapted_linear(&self, path: &str) -> Option<&AdaptedLinear> {
        match path {
            "proj_in" => Some(&self.proj_in),
            "proj_out" => Some(&self.proj_out),
            _ => None,
        }
    }
    fn adapted_linear_mut(&mut self, path: &str) -> Option<&mut AdaptedLinear> {
        match path {
            "proj_in" => Some(&mut self.proj_in),
            "proj_out" => Some(&mut self.proj_out),
            _ => None,
        }
    }
}

/// Gradients of `sum(y^2)` for each layer's A, B and (DoRA) magnitude, in PEFT's order.
fn weight_space_gradients(peft: &PeftModel<Tiny>, x: Tensor<2>) -> (Vec<f32>, Vec<Vec<f32>>) {
    let y = peft.model().forward(x);
    let grads = y.clone().square().sum().backward();
    let mut out = Vec::new();
    for linear in [&peft.model().proj_in, &peft.model().proj_out] {
        let adapter = &linear.weight.reparameterization::<PeftWeight>().unwrap().adapters[0];
        out.push(values(adapter.lora_a.val().grad(&grads).unwrap()));
        out.push(values(adapter.lora_b.val().grad(&grads).unwrap()));
        if let Some(m) = &adapter.magnitude {
            out.push(values(m.val().grad(&grads).unwrap()));
        }
        assert!(linear.weight.val().grad(&grads).is_none(), "the base weight is frozen");
    }
    (values(y), out)
}

fn activation_space_gradients(model: &TinyAdapted, x: Tensor<2>) -> (Vec<f32>, Vec<Vec<f32>>) {
    let y = model.forward(x);
    let grads = y.clone().square().sum().backward();
    let mut out = Vec::new();
    for linear in [&model.proj_in, &model.proj_out] {
        let adapter = linear.adapter.as_ref().unwrap();
        out.push(values(adapter.lora_a.val().grad(&grads).unwrap()));
        out.push(values(adapter.lora_b.val().grad(&grads).unwrap()));
        if let Some(m) = &adapter.magnitude {
            out.push(values(m.val().grad(&grads).unwrap()));
        }
    }
    (values(y), out)
}

#[test]
fn the_weight_space_path_equals_the_activation_space_path_in_outputs_and_gradients() {
    let device = Device::flex().autodiff();
    for name in ["lora", "rslora", "dora"] {
        let dir = fixture(&format!("adapters/{name}"));
        let peft = PeftModel::from_pretrained(base_model(&device), &dir).unwrap();
        let mut adapted = TinyAdapted::new(base_model(&device));
        load_adapter(&mut adapted, &dir).unwrap();
        let (y_weight, g_weight) = weight_space_gradients(&peft, input(&device));
        let (y_activation, g_activation) = activation_space_gradients(&adapted, input(&device));
        assert!(max_diff(&y_weight, &y_activation) < 1e-5, "{name}");
        assert_eq!(g_weight.len(), if name == "dora" { 6 } else { 4 });
        for (w, a) in g_weight.iter().zip(&g_activation) {
            let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            assert!(max_diff(w, a) / scale < 1e-5, "{name}: {w:?} vs {a:?}");
        }
    }
}

#[test]
fn pissa_and_olora_take_the_same_factors_out_of_the_base_weight_as_peft() {
    let device = Device::flex();
    for init in [LoraInit::Pissa, LoraInit::Olora] {
        let name = if init == LoraInit::Pissa { "pissa" } else { "olora" };
        let config = LoraConfig::new(TargetModules::Names(vec!["proj_in".into(), "proj_out".into()]))
            .with_r(2)
            .with_lora_alpha(4.0)
            .with_init_lora_weights(init);
        let mut peft = get_peft_model(base_model(&device), config).unwrap();
        // Nothing changes at the start: the factors are taken out of the weight.
        assert!(
            max_diff(&y(&peft, &device), &output(&format!("y_init_{name}"))) < 1e-5,
            "{name}"
        );
        assert!(max_diff(&y(&peft, &device), &output("y_base")) < 1e-5, "{name}");
        let recorded = AdapterWeights::read(&fixture(&format!("inits/{name}"))).unwrap();
        let ours = peft.weights("default").unwrap();
        let residual = tensors(&format!("inits/{name}/residual.safetensors"));
        let base = peft.with_adapters_disabled(|m| m.clone());
        for (module, linear) in [("proj_in", &base.proj_in), ("proj_out", &base.proj_out)] {
            // Singular vectors and QR columns are defined up to sign: compare B A.
            let product = |w: &AdapterWeights| {
                let f = &w.modules[module];
                (&f.lora_b * &f.lora_a).iter().copied().collect::<Vec<f32>>()
            };
            assert!(max_diff(&product(&ours), &product(&recorded)) < 1e-5, "{name} {module}");
            let expected = residual[&format!("{module}.weight")].to_linear_weight(&device);
            assert!(
                max_diff(&values(linear.weight.val()), &values(expected)) < 1e-5,
                "{name} {module} residual"
            );
        }
    }
}

#[test]
fn gaussian_init_starts_at_the_base_with_a_of_std_one_over_r() {
    let device = Device::flex();
    let config = LoraConfig::new(TargetModules::AllLinear)
        .with_r(4)
        .with_init_lora_weights(LoraInit::Gaussian);
    let mut peft = get_peft_model(base_model(&device), config).unwrap();
    assert!(max_diff(&y(&peft, &device), &output("y_base")) < 1e-6);
    let weights = peft.weights("default").unwrap();
    let a: Vec<f32> = weights
        .modules
        .values()
        .flat_map(|f| f.lora_a.iter().copied())
        .collect();
    let std = (a.iter().map(|v| v * v).sum::<f32>() / a.len() as f32).sqrt();
    assert!((0.15..0.35).contains(&std), "std {std} for 1/r = 0.25");
    assert!(weights.modules.values().all(|f| f.lora_b.iter().all(|&v| v == 0.0)));
}

#[test]
fn named_adapters_switch_combine_disable_and_delete_as_in_peft() {
    let device = Device::flex();
    let mut peft = PeftModel::new(base_model(&device)).unwrap();
    for name in ["lora", "lora_b", "dora"] {
        peft.load_adapter(&fixture(&format!("adapters/{name}")), name).unwrap();
    }
    assert_eq!(peft.adapter_names(), ["lora", "lora_b", "dora"]);
    assert!(peft.active_adapters().is_empty());
    assert!(max_diff(&y(&peft, &device), &output("y_base")) < 1e-6);
    for name in ["lora", "lora_b", "dora"] {
        peft.set_adapter(&[name]).unwrap();
        assert!(
            max_diff(&y(&peft, &device), &output(&format!("y_{name}"))) < 1e-5,
            "{name}"
        );
        let base = peft.with_adapters_disabled(|m| values(m.forward(input(&device))));
        assert!(max_diff(&base, &output("y_base")) < 1e-6);
    }
    // Two active adapters add their changes (the first layer's, then through the ReLU).
    peft.set_adapter(&["lora", "lora_b"]).unwrap();
    let both = y(&peft, &device);
    assert!(max_diff(&both, &output("y_lora")) > 1e-2 && max_diff(&both, &output("y_lora_b")) > 1e-2);
    let merged_both = peft.clone().merge_and_unload();
    assert!(max_diff(&values(merged_both.forward(input(&device))), &both) < 1e-5);
    // Deleting an active adapter keeps the other active one; deleting the last active one
    // activates the first remaining adapter.
    peft.delete_adapter("lora_b").unwrap();
    assert_eq!(peft.active_adapters(), ["lora"]);
    peft.delete_adapter("lora").unwrap();
    assert_eq!(peft.active_adapters(), ["dora"]);
    assert!(max_diff(&y(&peft, &device), &output("y_dora")) < 1e-5);
    let err = peft.set_adapter(&["lora"]).unwrap_err().to_string();
    assert_eq!(err, "adapter \"lora\" does not exist; the adapters are [\"dora\"]");
}

#[test]
fn several_adapters_save_in_peft_layout_and_load_back() {
    let device = Device::flex();
    let mut peft = PeftModel::from_pretrained(base_model(&device), &fixture("adapters/lora")).unwrap();
    peft.load_adapter(&fixture("adapters/lora_r3"), "other").unwrap();
    let out = TempDir::new().unwrap();
    peft.save_pretrained(out.path()).unwrap();
    assert!(out.path().join("adapter_config.json").is_file());
    assert!(out.path().join("other/adapter_model.safetensors").is_file());
    for (dir, name) in [
        (out.path().to_path_buf(), "lora"),
        (out.path().join("other"), "lora_r3"),
    ] {
        let saved = AdapterWeights::read(&dir).unwrap();
        let recorded = AdapterWeights::read(&fixture(&format!("adapters/{name}"))).unwrap();
        assert_eq!(saved.modules, recorded.modules, "{name}");
        assert_eq!(saved.config.r, recorded.config.r);
        let reloaded = PeftModel::from_pretrained(base_model(&device), &dir).unwrap();
        assert!(
            max_diff(&y(&reloaded, &device), &output(&format!("y_{name}"))) < 1e-5,
            "{name}"
        );
    }
}

#[test]
fn exclude_modules_leaves_layers_out_as_peft_does() {
    let device = Device::flex();
    for (name, excluded) in [
        ("exclude", ExcludeModules::Names(vec!["proj_out".into()])),
        ("exclude_regex", ExcludeModules::Regex("proj_o.*".into())),
    ] {
        let recorded = AdapterWeights::read(&fixture(&format!("adapters/{name}"))).unwrap();
        assert_eq!(recorded.modules.keys().collect::<Vec<_>>(), ["proj_in"], "{name}");
        assert_eq!(recorded.config.exclude_modules, Some(excluded), "{name}");
        // A new adapter of the same config leaves proj_out out too, and writes the key back.
        let mut peft = get_peft_model(base_model(&device), recorded.config.clone()).unwrap();
        assert_eq!(peft.targets(DEFAULT_ADAPTER).unwrap(), ["proj_in"], "{name}");
        let out = TempDir::new().unwrap();
        peft.save_pretrained(out.path()).unwrap();
        let saved = AdapterWeights::read(out.path()).unwrap().config;
        assert_eq!(
            saved.to_peft(),
            recorded.config.to_peft(),
            "{name}: the same file, sets sorted"
        );
    }
    // PEFT's refusals of configs that exclude every layer they target.
    let manifest = manifest();
    let targeting = manifest["targeting"].as_object().unwrap();
    assert_eq!(targeting.len(), 2);
    for (name, item) in targeting {
        let config = LoraConfig::from_peft(&as_adapter_config(item)).unwrap();
        let Err(err) = get_peft_model(base_model(&device), config) else {
            panic!("{name} is accepted");
        };
        let theirs = item["refused"]["message"].as_str().unwrap().trim_end_matches('.');
        assert!(err.to_string().starts_with(theirs), "{name}: {err}");
        assert!(
            err.to_string()
                .ends_with("(target_modules match proj_in, proj_out, all excluded)"),
            "{err}"
        );
    }
}

#[test]
fn rank_and_alpha_patterns_give_each_layer_peft_rank_and_scaling() {
    let device = Device::flex();
    // (adapter, proj_in's (r, scaling), proj_out's), as PEFT recorded them.
    let rslora = 4.0 / 3f64.sqrt();
    for (name, proj_in, proj_out) in [
        ("rank_pattern", (2, 4.0), (1, 4.0)),
        ("rank_pattern_rslora", (3, rslora), (3, rslora)),
    ] {
        let recorded = AdapterWeights::read(&fixture(&format!("adapters/{name}"))).unwrap();
        let config = &recorded.config;
        for (path, (r, scaling)) in [("proj_in", proj_in), ("proj_out", proj_out)] {
            let module = config.for_module(path);
            assert_eq!((module.r, module.scaling()), (r, scaling), "{name} {path}");
            assert_eq!(recorded.modules[path].rank(), r, "{name} {path}: the file's rank");
        }
        // A new adapter of the config has those ranks; saved, it is read back the same.
        let mut peft = get_peft_model(base_model(&device), config.clone()).unwrap();
        let out = TempDir::new().unwrap();
        peft.save_pretrained(out.path()).unwrap();
        let saved = AdapterWeights::read(out.path()).unwrap();
        assert_eq!(saved.config.to_peft(), config.to_peft(), "{name}");
        let ranks: Vec<usize> = saved.modules.values().map(|f| f.rank()).collect();
        assert_eq!(ranks, [proj_in.0, proj_out.0], "{name}");
    }
    // The activation-space path takes the patterns too, and its summary names them.
    let mut adapted = TinyAdapted::new(base_model(&device));
    let loaded = burn_peft::LoadedAdapter::load(&mut adapted, &fixture("adapters/rank_pattern")).unwrap();
    let y = values(adapted.forward(input(&device)));
    assert!(max_diff(&y, &output("y_rank_pattern")) < 1e-5);
    let summary = loaded.summary();
    assert!(
        summary.contains("scaling 2 (rank_pattern {\"proj_out\": 1}) (alpha_pattern {\"proj_in\": 8.0})"),
        "{summary}"
    );
}

#[test]
fn a_mixed_adapter_batch_gives_each_row_its_adapter_as_peft_does() {
    let device = Device::flex();
    let mut peft = PeftModel::new(base_model(&device)).unwrap();
    for name in ["lora", "lora_b", "dora"] {
        peft.load_adapter(&fixture(&format!("adapters/{name}")), name).unwrap();
    }
    peft.set_adapter(&["lora_b"]).unwrap();
    let manifest = manifest();
    let names_of = |v: &serde_json::Value| -> Vec<String> { serde_json::from_value(v.clone()).unwrap() };
    let names = names_of(&manifest["mixed"]["adapter_names"]);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let y = peft.forward_mixed(input(&device), &names, |m, x| m.forward(x)).unwrap();
    assert!(max_diff(&values(y), &output("y_mixed")) < 1e-5);
    assert_eq!(peft.active_adapters(), ["lora_b"], "the active adapter is back");
    assert!(max_diff(&values(peft.model().forward(input(&device))), &output("y_lora_b")) < 1e-5);
    // A tuple of inputs splits by rows too.
    let pair = (input(&device), input(&device));
    let y = peft.forward_mixed(pair, &names, |m, (x, _)| m.forward(x)).unwrap();
    assert!(max_diff(&values(y), &output("y_mixed")) < 1e-5);

    let refusals = manifest["mixed"]["refusals"].as_object().unwrap();
    assert_eq!(refusals.len(), 3);
    for (case, item) in refusals {
        let names = names_of(&item["adapter_names"]);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let err = peft
            .forward_mixed(input(&device), &names, |m, x| m.forward(x))
            .unwrap_err();
        let theirs = item["message"].as_str().unwrap();
        assert_eq!(err.to_string(), format!("adapter_names: {theirs}"), "{case}");
    }
}

#[test]
fn lora_bias_trains_a_bias_in_b_as_peft_on_both_paths_and_is_refused_where_peft_refuses_it() {
    let device = Device::flex().autodiff();
    let dir = fixture("adapters/lora_bias");
    let mut peft = PeftModel::from_pretrained(base_model(&device), &dir).unwrap();
    // The bias's gradient of sum(y^2) is s * 2 * (the rows' sum of y) on proj_out.
    let y = peft.model().forward(input(&device));
    let grads = y.clone().square().sum().backward();
    let bias = &peft.model().proj_out.bias.as_ref().unwrap();
    let lora = &bias.reparameterization::<PeftBias>().unwrap().biases[0];
    let got = values(lora.bias.val().grad(&grads).unwrap());
    let want = values(y.detach().sum_dim(0).mul_scalar(2.0 * lora.scaling));
    assert!(max_diff(&got, &want) < 1e-4, "{got:?} vs {want:?}");
    assert!(bias.val().grad(&grads).is_none(), "the base bias is frozen");
    // Saved and read back as PEFT wrote it.
    let out = TempDir::new().unwrap();
    peft.save_pretrained(out.path()).unwrap();
    let (saved, recorded) = (
        AdapterWeights::read(out.path()).unwrap(),
        AdapterWeights::read(&dir).unwrap(),
    );
    assert_eq!(saved.modules, recorded.modules);
    assert_eq!(saved.config.to_peft(), recorded.config.to_peft());

    let manifest = manifest();
    let refusals = manifest["config_refusals"].as_object().unwrap();
    assert_eq!(refusals.len(), 2);
    for (name, item) in refusals {
        let err = LoraConfig::from_peft(&as_adapter_config(item)).unwrap_err();
        let theirs = item["message"].as_str().unwrap();
        assert_eq!(err.to_string(), format!("\"lora_bias\": {theirs}"), "{name}");
    }
    // The activation path: the same outputs, merged or not, and the same bias gradient.
    let mut adapted = TinyAdapted::new(base_model(&device));
    load_adapter(&mut adapted, &dir).unwrap();
    let y_activation = adapted.forward(input(&device));
    assert!(max_diff(&values(y_activation.clone()), &output("y_lora_bias")) < 1e-5);
    let grads = y_activation.square().sum().backward();
    let adapter_bias = adapted.proj_out.adapter.as_ref().unwrap().bias.as_ref().unwrap();
    assert!(max_diff(&values(adapter_bias.val().grad(&grads).unwrap()), &got) < 1e-4);
    let saved = TempDir::new().unwrap();
    burn_peft::save_adapter(&adapted, &recorded.config, saved.path()).unwrap();
    assert_eq!(AdapterWeights::read(saved.path()).unwrap().modules, recorded.modules);
    burn_peft::merge_adapters(&mut adapted);
    assert!(max_diff(&values(adapted.forward(input(&device))), &output("y_lora_bias_merged")) < 1e-5);
    burn_peft::unmerge_adapters(&mut adapted);
    assert!(max_diff(&values(adapted.forward(input(&device))), &output("y_lora_bias")) < 1e-5);
    // A layer without a bias has nothing to merge the adapter's into, on either path.
    let config = burn_peft::read_adapter_config(&dir.join("adapter_config.json")).unwrap();
    let mut unbiased = TinyAdapted::new(base_model(&device));
    unbiased.proj_in.base.bias = None;
    let err = burn_peft::inject_adapter(&mut unbiased, &config).unwrap_err();
    assert!(err.to_string().contains("no bias"), "{err}");
    let mut unbiased = base_model(&device);
    unbiased.proj_in.bias = None;
    let Err(err) = get_peft_model(unbiased, config) else {
        panic!("a layer without a bias took lora_bias");
    };
    assert!(err.to_string().contains("proj_in has no bias"), "{err}");
}

/// The recorded model with other layer sizes.
fn other_model(device: &Device) -> Tiny {
    let linear = |d_in, d_out| burn::nn::LinearConfig::new(d_in, d_out).init(device);
    Tiny {
        proj_in: linear(8, 7),
        proj_out: linear(7, 4),
    }
}

#[test]
fn an_adapter_of_another_model_is_an_error_naming_the_file_and_key() {
    let device = Device::flex();
    let dir = fixture("adapters/lora");
    let err = PeftModel::from_pretrained(other_model(&device), &dir)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: \"base_model.model.proj_in.lora_A.weight\" and lora_B.weight are for a [6, 8] layer, but the \
             model's is [7, 8] (another base model?)",
            dir.join("adapter_model.safetensors").display()
        )
    );
    // A model without those layers: no target matches.
    #[derive(Module, Debug)]
    struct Other {
        head: Linear,
    }
    let other = Other {
        head: burn::nn::LinearConfig::new(8, 2).init(&device),
    };
    let err = PeftModel::from_pretrained(other, &dir).unwrap_err().to_string();
    assert!(
        err.contains("match none of the model's linear layers; available: head"),
        "{err}"
    );
}

#[test]
fn new_adapters_refuse_dropout_and_duplicate_names() {
    let device = Device::flex();
    let config = LoraConfig::new(TargetModules::AllLinear).with_lora_dropout(0.1);
    let err = get_peft_model(base_model(&device), config).unwrap_err().to_string();
    assert!(
        err.starts_with("\"lora_dropout\": is 0.1: adapters on weights apply no dropout"),
        "{err}"
    );
    let mut peft = get_peft_model(base_model(&device), LoraConfig::new(TargetModules::AllLinear)).unwrap();
    let err = peft
        .add_adapter("default", LoraConfig::new(TargetModules::AllLinear))
        .unwrap_err();
    assert_eq!(err.to_string(), "adapter \"default\" already exists");
}

#[test]
fn training_the_weight_space_adapters_lowers_the_loss_and_survives_switching() {
    use burn::optim::{AdamWConfig, GradientsParams};
    let device = Device::flex().autodiff();
    let config = LoraConfig::new(TargetModules::AllLinear)
        .with_r(2)
        .with_use_dora(true)
        .with_init_lora_weights(LoraInit::Gaussian);
    let mut peft = get_peft_model(base_model(&device), config).unwrap();
    let count = peft.param_count();
    assert_eq!(count.trainable, (8 * 2 + 2 * 6 + 6) + (6 * 2 + 2 * 4 + 4));
    let x = input(&device);
    let target = Tensor::<2>::ones([5, 4], &device);
    let loss = |peft: &PeftModel<Tiny>| (peft.model().forward(x.clone()) - target.clone()).square().mean();
    let mut optimizer = AdamWConfig::new().init();
    let before = values(loss(&peft))[0];
    for _ in 0..30 {
        let grads = GradientsParams::from_grads(loss(&peft).backward(), peft.model());
        peft.update(|model| optimizer.step(0.05, model, grads));
    }
    let after = values(loss(&peft))[0];
    assert!(after < 0.5 * before, "loss {before} -> {after}");
    let base = peft.with_adapters_disabled(|m| values(m.forward(x.clone())));
    assert!(max_diff(&base, &output("y_base")) < 1e-6, "the base is unchanged");
    // Switching away and back keeps what was trained.
    peft.add_adapter("other", LoraConfig::new(TargetModules::AllLinear))
        .unwrap();
    peft.set_adapter(&["other"]).unwrap();
    peft.set_adapter(&["default"]).unwrap();
    assert!((values(loss(&peft))[0] - after).abs() < 1e-6);
}
