//! What `minbert info` reports of all-MiniLM-L6-v2: its parameters by part, with and without
//! an adapter, and its architecture's lines and JSON.

use burn::tensor::Device;
use burn_peft::{LoraConfig, TargetModules, inject_adapter};
use minbert_model::{BaseParams, load_pretrained};
use minbert_testkit::model_dir;

#[test]
fn parameters_by_part_with_and_without_an_adapter() {
    let (config, mut model) = load_pretrained(&model_dir(), &Device::flex().autodiff()).unwrap();
    let base = BaseParams::of(&model);
    assert_eq!(
        base,
        BaseParams {
            embeddings: 11_918_592,
            encoder: 10_646_784,
            per_layer: 1_774_464,
            pooler: 147_840,
        }
    );
    let plain = base.with_total(&model);
    assert_eq!(
        (plain.adapter, plain.total, plain.trainable),
        (0, 22_713_216, 22_713_216)
    );
    assert_eq!(plain.describe(false)[5], "  trainable      22713216");

    let lora = LoraConfig::new(TargetModules::Names(vec!["query".into(), "value".into()])).with_r(8);
    inject_adapter(&mut model, &lora).unwrap();
    let adapted = base.with_total(&model);
    // 12 layers of 384 → 8 → 384; the base is frozen.
    assert_eq!((adapted.adapter, adapted.trainable), (73_728, 73_728));
    assert_eq!(adapted.total, 22_713_216 + 73_728);
    assert_eq!(adapted.describe(true)[4], "  adapter           73728");

    assert_eq!(config.describe()[1], "hidden       384 (12 heads of 32)");
    assert_eq!(config.to_json()["intermediate_size"], 1536);
    assert_eq!(config.to_json().as_object().unwrap().len(), 11);
}
