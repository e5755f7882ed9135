//! `add_weighted_adapter` against PEFT's, recorded in `tests/fixtures/peft-tiny/merges` by its
//! `record.py`: every deterministic combination to 1e-5 (factors, config and the model's output),
//! DARE by the semantics of its masks.

#[path = "common/tiny.rs"]
mod tiny;

use burn::tensor::Device;
use burn_peft::{
    AdapterWeights, Combination, MajoritySign, PeftModel, TargetModules, WeightedMerge, add_weighted_adapter,
};
use nalgebra::DMatrix;
use tiny::{base_model, fixture, input, max_diff, output, values};

fn adapter(name: &str) -> AdapterWeights {
    AdapterWeights::read(&fixture(&format!("adapters/{name}"))).unwrap()
}

fn recorded(name: &str) -> AdapterWeights {
    AdapterWeights::read(&fixture(&format!("merges/{name}"))).unwrap()
}

fn flat(m: &DMatrix<f32>) -> Vec<f32> {
    m.iter().copied().collect()
}

/// (fixture name, adapters, weights, merge), as record.py makes them.
fn deterministic_merges() -> Vec<(&'static str, [&'static str; 2], [f64; 2], WeightedMerge)> {
    let with = |c: Combination| WeightedMerge::new(c);
    let ties = |sign| WeightedMerge {
        density: Some(0.5),
        majority_sign_method: sign,
        ..with(Combination::Ties)
    };
    vec![
        ("linear", ["lora", "lora_b"], [0.7, 0.3], with(Combination::Linear)),
        (
            "linear_negative",
            ["lora", "lora_b"],
            [1.0, -0.5],
            with(Combination::Linear),
        ),
        ("cat", ["lora", "lora_r3"], [0.7, 0.3], with(Combination::Cat)),
        ("svd", ["lora", "lora_r3"], [0.7, 0.3], with(Combination::Svd)),
        (
            "svd_rslora_first",
            ["rslora", "lora"],
            [0.7, 0.3],
            with(Combination::Svd),
        ),
        (
            "cat_rank_pattern",
            ["rank_pattern", "lora"],
            [0.7, 0.3],
            with(Combination::Cat),
        ),
        (
            "svd_rank_pattern",
            ["rank_pattern", "lora"],
            [0.7, 0.3],
            with(Combination::Svd),
        ),
        ("ties", ["lora", "lora_b"], [0.7, 0.3], ties(MajoritySign::Total)),
        (
            "ties_frequency",
            ["lora", "lora_b"],
            [0.7, 0.3],
            ties(MajoritySign::Frequency),
        ),
    ]
}

#[test]
fn deterministic_combinations_equal_peft() {
    for (name, adapters, weights, merge) in deterministic_merges() {
        let inputs = [adapter(adapters[0]), adapter(adapters[1])];
        let ours = add_weighted_adapter(&[(&inputs[0], weights[0]), (&inputs[1], weights[1])], &merge).unwrap();
        let theirs = recorded(name);
        assert_eq!(ours.config.r, theirs.config.r, "{name}");
        assert_eq!(ours.config.lora_alpha, theirs.config.lora_alpha, "{name}");
        assert_eq!(ours.config.use_rslora, theirs.config.use_rslora, "{name}");
        assert_eq!(ours.config.scaling(), theirs.config.scaling(), "{name}");
        assert_eq!(
            ours.config.target_modules,
            TargetModules::Names(vec!["proj_in".into(), "proj_out".into()])
        );
        assert_eq!(
            ours.modules.keys().collect::<Vec<_>>(),
            theirs.modules.keys().collect::<Vec<_>>()
        );
        for (module, f) in &ours.modules {
            let g = &theirs.modules[module];
            if merge.combination == Combination::Svd {
                // Singular vectors are defined up to sign: compare the updates B A.
                assert!(max_diff(&flat(&(&f.lora_b * &f.lora_a)), &flat(&(&g.lora_b * &g.lora_a))) < 1e-5);
            } else {
                assert!(max_diff(&flat(&f.lora_a), &flat(&g.lora_a)) < 1e-5, "{name} {module} A");
                assert!(max_diff(&flat(&f.lora_b), &flat(&g.lora_b)) < 1e-5, "{name} {module} B");
            }
        }
    }
}

#[test]
fn merged_adapters_give_peft_outputs_through_the_model() {
    let device = Device::flex();
    let mut peft = PeftModel::new(base_model(&device)).unwrap();
    for name in ["lora", "lora_b", "lora_r3", "rslora", "rank_pattern"] {
        peft.load_adapter(&fixture(&format!("adapters/{name}")), name).unwrap();
    }
    for (name, adapters, weights, merge) in deterministic_merges() {
        let pairs = [(adapters[0], weights[0]), (adapters[1], weights[1])];
        peft.add_weighted_adapter(&pairs, name, &merge).unwrap();
        peft.set_adapter(&[name]).unwrap();
        let y = values(peft.model().forward(input(&device)));
        let expected = output(&format!("y_merge_{name}"));
        // Relative to the output's size: rsLoRA's merge doubles the update (outputs up to ~8).
        let scale = expected.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = max_diff(&y, &expected);
        assert!(diff < 1e-5 * scale, "{name}: {diff}");
    }
    let err = peft
        .add_weighted_adapter(
            &[("lora", 0.5), ("lora_r3", 0.5)],
            "bad",
            &WeightedMerge::new(Combination::Linear),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "add_weighted_adapter: combination linear needs adapters of the same r, got [2, 3] (cat and svd take any)"
    );
    // Equal config ranks, but rank_pattern gives proj_out r1 in one of them.
    let err = peft
        .add_weighted_adapter(
            &[("rank_pattern", 0.5), ("lora", 0.5)],
            "bad",
            &WeightedMerge::new(Combination::Linear),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "add_weighted_adapter: proj_out: the adapters have ranks [1, 2] here (rank_pattern); this combination needs equal ones (cat and svd take any)"
    );
}

/// Every DARE value is a kept subset of the weighted inputs, rescaled by 1 / density; about
/// `density` of each input's values are kept. PEFT's recorded merges satisfy the same test.
#[test]
fn dare_keeps_about_density_of_the_values_rescaled() {
    let inputs = [adapter("lora"), adapter("lora_b")];
    let weights = [0.7, 0.3];
    for combination in [Combination::DareLinear, Combination::DareTies] {
        let merge = WeightedMerge {
            density: Some(0.5),
            seed: 7,
            ..WeightedMerge::new(combination)
        };
        let ours = add_weighted_adapter(&[(&inputs[0], weights[0]), (&inputs[1], weights[1])], &merge).unwrap();
        let again = add_weighted_adapter(&[(&inputs[0], weights[0]), (&inputs[1], weights[1])], &merge).unwrap();
        assert_eq!(ours, again, "a seed gives one merge");
        for merged in [ours, recorded(combination.name())] {
            let (mut kept, mut total) = (0usize, 0usize);
            for (module, f) in &merged.modules {
                let sources: Vec<_> = inputs.iter().map(|a| &a.modules[module]).collect();
                for (factor, pick) in [(&f.lora_a, 0), (&f.lora_b, 1)] {
                    for i in 0..factor.len() {
                        // The factor-wise weights: sqrt(w s), s = 2 and 1.
                        let terms: Vec<f32> = sources
                            .iter()
                            .zip([(0.7f64 * 2.0).sqrt(), (0.3f64 * 1.0).sqrt()])
                            .map(|(s, w)| [&s.lora_a, &s.lora_b][pick][i] * w as f32 / 0.5)
                            .collect();
                        let value = factor[i];
                        let subset = (0..4).find(|mask| {
                            let chosen: Vec<f32> = (0..2).filter(|k| mask & (1 << k) != 0).map(|k| terms[k]).collect();
                            let sum: f32 = chosen.iter().sum();
                            // dare_ties averages the agreeing values; a lone one is itself.
                            let mean = sum / (chosen.len().max(1) as f32);
                            (value - sum).abs() < 1e-5 || (value - mean).abs() < 1e-5
                        });
                        let mask = subset.unwrap_or_else(|| panic!("{combination} {module}: {value} from {terms:?}"));
                        kept += (mask as u32).count_ones() as usize;
                        total += 2;
                    }
                }
            }
            let fraction = kept as f64 / total as f64;
            assert!((0.3..0.7).contains(&fraction), "{combination}: kept {fraction}");
        }
    }
}

#[test]
fn dora_and_mixed_targets_are_refused_with_the_reason() {
    let (lora, dora) = (adapter("lora"), adapter("dora"));
    let err = add_weighted_adapter(&[(&dora, 0.5), (&lora, 0.5)], &WeightedMerge::new(Combination::Cat)).unwrap_err();
    assert!(err.to_string().contains("adapter 1 is DoRA"), "{err}");
    let mut regex = lora.clone();
    regex.config.target_modules = TargetModules::Regex("proj_.*".into());
    let err = add_weighted_adapter(&[(&lora, 0.5), (&regex, 0.5)], &WeightedMerge::new(Combination::Cat)).unwrap_err();
    assert!(err.to_string().contains("mix a regex and name lists"), "{err}");
    let both_regex =
        add_weighted_adapter(&[(&regex, 0.5), (&regex, 0.5)], &WeightedMerge::new(Combination::Cat)).unwrap();
    assert_eq!(
        both_regex.config.target_modules,
        TargetModules::Regex("(proj_.*)|(proj_.*)".into())
    );
    let err = add_weighted_adapter(&[(&lora, 0.5), (&lora, 0.5)], &WeightedMerge::new(Combination::Ties)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "add_weighted_adapter: combination ties needs a density"
    );
}
