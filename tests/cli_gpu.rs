//! The binary on the wgpu backend (lavapipe in CI): `info` names the adapter, `embed` meets
//! transformers, and train, eval, predict, ensemble and bench run there, scoring as the CPU does.

use tempfile::TempDir;

mod common;

use common::*;
use minbert_testkit::gpu_device;

/// The `--device` of the GPU tests: the first wgpu adapter, when one opens.
fn gpu() -> Option<&'static str> {
    gpu_device().map(|_| "wgpu:0")
}

#[test]
fn info_lists_the_adapters_and_names_the_one_in_use() {
    let Some(gpu) = gpu() else { return };
    let stdout = ok(&["info", "--device", gpu]);
    let device = stdout.lines().find(|l| l.starts_with("device")).unwrap();
    assert!(device.contains("wgpu:0: ") && device.contains("driver"), "{stdout}");
    assert!(stdout.contains("gpu          wgpu:0 = "), "{stdout}");
    let msg = fails(&["info", "--device", "wgpu:99"]);
    assert!(msg.contains("--device wgpu:99: no adapter 99 (found: 0: "), "{msg}");
}

#[test]
fn embed_on_the_gpu_matches_transformers() {
    let Some(gpu) = gpu() else { return };
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.safetensors");
    ok(&[
        "embed",
        "--input",
        arg(&fixture()),
        "--out",
        arg(&out),
        "--batch-size",
        "4",
        "--device",
        gpu,
    ]);
    assert_embeddings_match_transformers(&out);
}

#[test]
fn train_eval_predict_ensemble_and_bench_run_on_the_gpu() {
    let Some(gpu) = gpu() else { return };
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    // Tiny: on lavapipe every kernel is compiled on first use, in each process.
    let data = small_course_data(root, 8);
    let config = root.join("tiny.toml");
    std::fs::write(
        &config,
        "[adapter]\nmode = \"dora\"\nr = 2\n[data]\nmax_len = 16\n\
         [tasks.sst]\n[tasks.para]\n[tasks.sts]\n[train]\nepochs = 1\nbatch_size = 8\nlr = 1e-3\n",
    )
    .unwrap();
    let run = root.join("run");
    ok(&[
        "train",
        "--config",
        arg(&config),
        "--out",
        arg(&run),
        "--data-dir",
        arg(&data),
        "--progress",
        "quiet",
        "--device",
        gpu,
    ]);
    let best = run.join("best");

    // The GPU's scores of the checkpoint are the CPU's: the same predictions but where two
    // classes tie to within the backends' rounding.
    let eval = |device: &str| {
        let out = root.join(format!("eval-{device}.json"));
        ok(&[
            "eval",
            "--checkpoint",
            arg(&best),
            "--data-dir",
            arg(&data),
            "--json",
            arg(&out),
            "--device",
            device,
        ]);
        json(&out)
    };
    let (on_gpu, on_cpu) = (eval(gpu), eval("flex"));
    for (key, tolerance) in [("sst_acc", 1.0 / 8.0), ("quora_acc", 1.0 / 8.0), ("sts_pearson", 1e-4)] {
        let (g, c) = (on_gpu[key].as_f64().unwrap(), on_cpu[key].as_f64().unwrap());
        assert!((g - c).abs() <= tolerance + 1e-9, "{key}: GPU {g}, CPU {c}");
    }

    let predicted = root.join("predict");
    let stdout = ok(&[
        "predict",
        "--checkpoint",
        arg(&best),
        "--split",
        "dev",
        "--out-dir",
        arg(&predicted),
        "--data-dir",
        arg(&data),
        "--device",
        gpu,
    ]);
    assert_eq!(stdout.matches("wrote ").count(), 3, "{stdout}");

    let report = root.join("ensemble.json");
    ok(&[
        "ensemble",
        "--checkpoint",
        arg(&best),
        "--checkpoint",
        arg(&best),
        "--data-dir",
        arg(&data),
        "--json",
        arg(&report),
        "--device",
        gpu,
    ]);
    let ensembled = json(&report)["ensemble"]["scores"]["overall"].as_f64().unwrap();
    assert!((ensembled - on_gpu["overall"].as_f64().unwrap()).abs() < 1e-6);

    let bench = root.join("bench.json");
    ok(&[
        "bench",
        "--mode",
        "dora",
        "--batch",
        "2",
        "--seq",
        "8",
        "--warmup",
        "0",
        "--steps",
        "1",
        "--json",
        arg(&bench),
        "--device",
        gpu,
    ]);
    let bench = json(&bench);
    assert!(bench["device"].as_str().unwrap().starts_with("wgpu:0: "), "{bench}");
    assert!(bench["last_value"].as_f64().unwrap().is_finite());
}
