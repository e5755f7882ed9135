//! `MergeInputs`: adapter directories read, checked to be adapters of one base model, and merged
//! as `add_weighted_adapter` merges them.

#[path = "common/tiny.rs"]
mod tiny;

use std::path::{Path, PathBuf};

use burn_peft::{AdapterWeights, Combination, MergeInputs, WeightedMerge, add_weighted_adapter, same_base};
use tempfile::TempDir;
use tiny::fixture;

/// A copy of the fixture adapter `name` in `dir/copy`, its `base_model_name_or_path` set to `base`.
fn with_base(dir: &Path, name: &str, copy: &str, base: &str) -> PathBuf {
    let out = dir.join(copy);
    std::fs::create_dir_all(&out).unwrap();
    let src = fixture(&format!("adapters/{name}"));
    std::fs::copy(
        src.join("adapter_model.safetensors"),
        out.join("adapter_model.safetensors"),
    )
    .unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("adapter_config.json")).unwrap()).unwrap();
    config["base_model_name_or_path"] = base.into();
    std::fs::write(out.join("adapter_config.json"), config.to_string()).unwrap();
    out
}

#[test]
fn merges_as_add_weighted_adapter_with_one_weight_each_by_default() {
    let dirs = [fixture("adapters/lora"), fixture("adapters/lora_r3")];
    let merge = WeightedMerge::new(Combination::Cat);
    let inputs = MergeInputs::read(&dirs, &[], &merge).unwrap();
    assert_eq!(inputs.weights, vec![1.0, 1.0]);
    assert!(inputs.warnings.is_empty());
    let merged = inputs.merge(&merge).unwrap();
    let read: Vec<AdapterWeights> = dirs.iter().map(|d| AdapterWeights::read(d).unwrap()).collect();
    let expected = add_weighted_adapter(&[(&read[0], 1.0), (&read[1], 1.0)], &merge).unwrap();
    assert_eq!(merged.config.r, 5);
    assert_eq!(merged.modules, expected.modules);
}

#[test]
fn refuses_weights_that_do_not_fit_and_adapters_of_other_base_models() {
    let dir = TempDir::new().unwrap();
    let merge = WeightedMerge::new(Combination::Svd);
    let dirs = [fixture("adapters/lora"), fixture("adapters/lora_b")];
    let err = MergeInputs::read(&dirs, &[0.5], &merge).err().unwrap().to_string();
    assert_eq!(err, "--weights has 1 values for 2 adapters; give one per --adapter");

    let (a, b) = (
        with_base(dir.path(), "lora", "a", "org/a"),
        with_base(dir.path(), "lora_b", "b", "org/b"),
    );
    let err = MergeInputs::read(&[a.clone(), b], &[], &merge)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!("{} and {}", a.display(), dir.path().join("b").display())),
        "{err}"
    );
    assert!(err.contains("are adapters of different base models"), "{err}");

    // A Hub id against a path not here cannot be compared: merged, with a warning.
    let c = with_base(dir.path(), "lora_b", "c", "/nowhere/model");
    let inputs = MergeInputs::read(&[a, c], &[], &merge).unwrap();
    assert_eq!(inputs.warnings.len(), 1);
    assert!(
        inputs.warnings[0].contains("cannot be compared here"),
        "{:?}",
        inputs.warnings
    );
}

#[test]
fn same_base_compares_names_folders_and_weights() {
    let dir = TempDir::new().unwrap();
    let folder = |name: &str, weights: Option<&[u8]>| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        if let Some(bytes) = weights {
            std::fs::write(path.join("model.safetensors"), bytes).unwrap();
        }
        path.display().to_string()
    };
    let (one, copy, other, bare) = (
        folder("one", Some(b"w1")),
        folder("copy", Some(b"w1")),
        folder("other", Some(b"w2")),
        folder("bare", None),
    );
    assert_eq!(same_base("org/a", "org/a").unwrap(), Some(true));
    assert_eq!(same_base("org/a", "org/b").unwrap(), Some(false));
    assert_eq!(same_base(&one, &copy).unwrap(), Some(true));
    assert_eq!(same_base(&one, &other).unwrap(), Some(false));
    assert_eq!(same_base(&one, &bare).unwrap(), None);
    assert_eq!(same_base("org/a", &one).unwrap(), None);
}
