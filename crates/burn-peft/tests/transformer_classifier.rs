//! The `transformer_dora` example's flow, checked: DoRA on burn-nn's `TransformerEncoder` with
//! no change to its code trains, saves, and reloads into a fresh model with the same outputs.

#[path = "../examples/common/classifier.rs"]
mod classifier;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_peft::{AdapterWeights, KeyMap, LoraConfig, PeftModel, TargetModules, get_peft_model};
use classifier::{Classifier, ClassifierConfig, task};
use tempfile::TempDir;

#[test]
fn dora_on_a_transformer_encoder_trains_saves_and_reloads_into_a_fresh_model() {
    let device = Device::flex().autodiff();
    let config = ClassifierConfig::new();
    let model = config.init(&device);
    // The base weights, as a pretrained checkpoint would hold them.
    let base_record = model.clone().into_record();
    let (x, labels) = task(&config, 64, &device);
    let targets = ["query", "value", "linear_inner", "linear_outer"]
        .map(String::from)
        .to_vec();
    let lora = LoraConfig::new(TargetModules::Names(targets))
        .with_r(4)
        .with_lora_alpha(8.0)
        .with_use_dora(true);
    let mut peft = get_peft_model(model, lora).unwrap();
    let adapted = peft.targets("default").unwrap();
    assert_eq!(adapted.len(), 8);
    assert!(
        adapted.contains(&"encoder.layers.1.mha.query".to_string()),
        "{adapted:?}"
    );
    assert!(
        adapted.contains(&"encoder.layers.0.pwff.linear_outer".to_string()),
        "{adapted:?}"
    );

    let base_before = peft.with_adapters_disabled(|m| m.forward(x.clone()));
    let loss = |peft: &PeftModel<Classifier>| peft.model().loss(x.clone(), labels.clone()).into_scalar::<f32>();
    let first = loss(&peft);
    let mut optimizer = AdamWConfig::new().init();
    for _ in 0..30 {
        let grads = GradientsParams::from_grads(peft.model().loss(x.clone(), labels.clone()).backward(), peft.model());
        peft.update(|model| optimizer.step(1e-2, model, grads));
    }
    let last = loss(&peft);
    assert!(last < 0.8 * first, "cross-entropy {first} -> {last}");
    let base_after = peft.with_adapters_disabled(|m| m.forward(x.clone()));
    let base_change = (base_after - base_before).abs().max().into_scalar::<f32>();
    assert_eq!(base_change, 0.0, "the base stays frozen");

    let out = TempDir::new().unwrap();
    peft.save_pretrained(out.path()).unwrap();
    let saved = AdapterWeights::read(out.path()).unwrap();
    assert!(saved.config.use_dora);
    assert_eq!(saved.modules.len(), 8);
    let fresh = config.init(&device).load_record(base_record);
    let reloaded = PeftModel::from_pretrained(fresh, out.path()).unwrap();
    let diff = (peft.model().forward(x.clone()) - reloaded.model().forward(x.clone()))
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff < 1e-5, "reloaded outputs differ by {diff}");
}

#[test]
fn a_key_map_and_peft_targeting_rules_apply_to_burn_paths() {
    let device = Device::flex();
    let config = ClassifierConfig::new();
    let model = config.init(&device);
    let key_map = KeyMap::new().rename("layers", "layer").rename("mha", "attention.self");
    let lora = LoraConfig::new(TargetModules::Names(vec!["query".into(), "value".into()]))
        .with_layers_to_transform(Some(vec![1]))
        .with_layers_pattern(Some(vec!["layer".into()]));
    let mut peft = PeftModel::new(model.clone())
        .unwrap()
        .with_key_map(key_map.clone())
        .unwrap();
    peft.add_adapter("default", lora).unwrap();
    assert_eq!(
        peft.targets("default").unwrap(),
        [
            "encoder.layer.1.attention.self.query",
            "encoder.layer.1.attention.self.value"
        ]
    );
    let out = TempDir::new().unwrap();
    peft.save_pretrained(out.path()).unwrap();
    let saved = AdapterWeights::read(out.path()).unwrap();
    assert_eq!(
        saved.modules.keys().collect::<Vec<_>>(),
        [
            "encoder.layer.1.attention.self.query",
            "encoder.layer.1.attention.self.value"
        ]
    );
    // Without the map the file's names are not the model's.
    let err = PeftModel::from_pretrained(model.clone(), out.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("match none of the model's linear layers"), "{err}");
    assert!(PeftModel::from_pretrained_with(model.clone(), out.path(), key_map).is_ok());
    // A map that gives two layers one name is refused (it cannot map both back).
    let err = PeftModel::new(model)
        .unwrap()
        .with_key_map(KeyMap::new().rename("query", "value"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "encoder.layers.0.mha.value to encoder.layers.0.mha.value, which it maps back to encoder.layers.0.mha.query"
        ),
        "{err}"
    );
}
