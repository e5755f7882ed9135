//! Issue 30, outputs never clobbered: `predict`, `ensemble`, `adapters merge` and `export`
//! refuse a non-empty output folder unless `--overwrite`, then replace it whole; an input is
//! never an output; `export --checkpoint` keeps a train_base run's trained base weights.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tempfile::TempDir;

mod common;

use common::*;

struct Fixture {
    data: PathBuf,
    /// LoRA r = 2 on SST, base frozen.
    lora: PathBuf,
    /// The same with `adapter.train_base = true`: `model.safetensors` beside `adapter/`.
    train_base: PathBuf,
}

/// Trains the two runs once for all tests of this file.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = &shared_fixture_dir("cli_outputs");
        let data = small_course_data(root, 24);
        let config = root.join("sst.toml");
        std::fs::write(
            &config,
            "[adapter]\nmode = \"lora\"\nr = 2\n[data]\nmax_len = 32\n[tasks.sst]\n[train]\nepochs = 1\nbatch_size = 8\nlr = 1e-3\n",
        )
        .unwrap();
        let lora = train_run(root, &data, "lora", &config, &[]);
        let train_base = train_run(root, &data, "train-base", &config, &["adapter.train_base=true"]);
        Fixture {
            data,
            lora,
            train_base,
        }
    })
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A folder holding another output's files: `stale.txt`, and `taken` if given.
fn taken_folder(dir: &Path, taken: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for name in taken.iter().chain(&["stale.txt"]) {
        std::fs::write(dir.join(name), "another output's file").unwrap();
    }
    dir.to_path_buf()
}

fn assert_refused_as_taken(stderr: &str, flag: &str, dir: &Path) {
    assert!(
        stderr.contains(&format!("{flag} {} exists and is not empty", dir.display()))
            && stderr.contains(&format!(
                "pass --overwrite to replace it whole, or choose another {flag}"
            )),
        "{stderr}"
    );
}

#[test]
fn predict_refuses_a_non_empty_out_dir_before_scoring_and_overwrite_replaces_it_whole() {
    let f = fixture();
    let tmp = TempDir::new().unwrap();
    let out = taken_folder(
        &tmp.path().join("predictions"),
        &["sst-dev-output.csv", "sts-dev-output.csv"],
    );
    let predict = |checkpoint: &Path, extra: &[&str]| {
        let mut args = vec![
            "predict",
            "--checkpoint",
            arg(checkpoint),
            "--split",
            "dev",
            "--out-dir",
            arg(&out),
        ];
        args.extend(["--data-dir", arg(&f.data)]);
        args.extend(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    // Refused before the checkpoint is even read: this one does not exist.
    let stderr = fails(&refs(&predict(Path::new("/nonexistent/checkpoint"), &[])));
    assert_refused_as_taken(&stderr, "--out-dir", &out);
    let stderr = fails(&refs(&predict(&f.lora, &[])));
    assert_refused_as_taken(&stderr, "--out-dir", &out);
    assert_eq!(
        std::fs::read_to_string(out.join("sst-dev-output.csv")).unwrap(),
        "another output's file"
    );

    let stdout = ok(&refs(&predict(&f.lora, &["--overwrite"])));
    assert!(stdout.contains("sst-dev-output.csv"), "{stdout}");
    // The SST-only checkpoint writes one file; neither the old STS file nor stale.txt is left.
    assert_eq!(names(&out), ["sst-dev-output.csv"]);
    let sst = std::fs::read_to_string(out.join("sst-dev-output.csv")).unwrap();
    assert!(sst.starts_with("id \t Predicted_Sentiment \n"), "{sst}");
    assert_eq!(names(tmp.path()), ["predictions"], "no temporary left beside it");
}

#[test]
fn predict_never_writes_over_its_checkpoint() {
    let f = fixture();
    let run = f.lora.parent().unwrap();
    for out in [&f.lora, &run.to_path_buf()] {
        let stderr = fails(&[
            "predict",
            "--checkpoint",
            arg(&f.lora),
            "--split",
            "dev",
            "--out-dir",
            arg(out),
            "--overwrite",
        ]);
        assert!(
            stderr.contains(&format!("--out-dir {} is the input --checkpoint", out.display())),
            "{stderr}"
        );
    }
    assert!(f.lora.join("meta.json").is_file());
}

#[test]
fn ensemble_refuses_a_non_empty_out_dir_and_overwrite_replaces_it_whole() {
    let f = fixture();
    let tmp = TempDir::new().unwrap();
    let out = taken_folder(&tmp.path().join("ensemble"), &["para-dev-output.csv"]);
    let mut args = vec![
        "ensemble",
        "--checkpoint",
        arg(&f.lora),
        "--checkpoint",
        arg(&f.train_base),
    ];
    args.extend(["--data-dir", arg(&f.data), "--out-dir", arg(&out)]);
    let stderr = fails(&args);
    assert_refused_as_taken(&stderr, "--out-dir", &out);
    assert!(out.join("stale.txt").is_file());

    args.push("--overwrite");
    ok(&args);
    assert_eq!(names(&out), ["sst-dev-output.csv"]);

    let member = f.lora.to_str().unwrap();
    let stderr = fails(&["ensemble", "--checkpoint", member, "--out-dir", member, "--overwrite"]);
    assert!(stderr.contains("is the member --checkpoint"), "{stderr}");
}

/// A copy of the recorded `variant` adapter in `dir`, naming `base` as its base model.
fn adapter_copy(dir: &Path, variant: &str, base: &str) -> PathBuf {
    let src = fixtures_dir().join(variant).join("adapter");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(
        src.join("adapter_model.safetensors"),
        dir.join("adapter_model.safetensors"),
    )
    .unwrap();
    let config = std::fs::read_to_string(src.join("adapter_config.json")).unwrap();
    let renamed = config.replace(
        "\"sentence-transformers/all-MiniLM-L6-v2\"",
        &serde_json::to_string(base).unwrap(),
    );
    assert_ne!(config, renamed, "the fixture names its base model");
    std::fs::write(dir.join("adapter_config.json"), renamed).unwrap();
    dir.to_path_buf()
}

fn merge(a: &Path, b: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["adapters", "merge", "--adapter", arg(a), "--adapter", arg(b)];
    args.extend(["--weights", "1,0", "--combination", "cat", "--out", arg(out)]);
    args.extend(extra);
    args.into_iter().map(String::from).collect()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn adapters_merge_never_writes_over_an_input_or_a_non_empty_out() {
    let tmp = TempDir::new().unwrap();
    let model = model_dir();
    let id = model.to_str().unwrap();
    let (a, b) = (
        adapter_copy(&tmp.path().join("a"), "lora", id),
        adapter_copy(&tmp.path().join("b"), "rslora", id),
    );
    let before = std::fs::read(a.join("adapter_model.safetensors")).unwrap();
    for out in [&a, &tmp.path().to_path_buf()] {
        let stderr = fails(&refs(&merge(&a, &b, out, &["--overwrite"])));
        assert!(
            stderr.contains(&format!(
                "--out {} is the input --adapter {}",
                out.display(),
                a.display()
            )),
            "{stderr}"
        );
    }
    assert_eq!(std::fs::read(a.join("adapter_model.safetensors")).unwrap(), before);
    assert_eq!(names(&a), ["adapter_config.json", "adapter_model.safetensors"]);

    let out = taken_folder(&tmp.path().join("merged"), &["adapter_model.safetensors"]);
    let stderr = fails(&refs(&merge(&a, &b, &out, &[])));
    assert_refused_as_taken(&stderr, "--out", &out);
    ok(&refs(&merge(&a, &b, &out, &["--overwrite"])));
    assert_eq!(names(&out), ["adapter_config.json", "adapter_model.safetensors"]);
}

#[test]
fn adapters_merge_compares_base_models_by_content() {
    let tmp = TempDir::new().unwrap();
    // Two copies of one model in two places, and another model.
    let model = |name: &str, weights: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("model.safetensors"), weights).unwrap();
        dir.to_str().unwrap().to_string()
    };
    let (here, there, other) = (
        model("here", "same"),
        model("there", "same"),
        model("other", "different"),
    );
    let a = adapter_copy(&tmp.path().join("a"), "lora", &here);
    let out = tmp.path().join("out");

    let b = adapter_copy(&tmp.path().join("b-there"), "rslora", &there);
    let out_same = merge(&a, &b, &out, &[]);
    let stdout = ok(&refs(&out_same));
    assert!(stdout.contains("merged 2 adapters"), "{stdout}");

    let b = adapter_copy(&tmp.path().join("b-other"), "rslora", &other);
    let stderr = fails(&refs(&merge(&a, &b, &tmp.path().join("out2"), &[])));
    assert!(stderr.contains("adapters of different base models"), "{stderr}");
    assert!(!tmp.path().join("out2").exists());

    // A path that is not on this machine cannot be compared: a warning, and the merge.
    let b = adapter_copy(&tmp.path().join("b-gone"), "rslora", "/elsewhere/all-MiniLM-L6-v2");
    let out3 = tmp.path().join("out3");
    let output = minbert(&refs(&merge(&a, &b, &out3, &[])));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: ")
            && stderr.contains("/elsewhere/all-MiniLM-L6-v2")
            && stderr.contains("cannot be compared"),
        "{stderr}"
    );
    assert!(out3.join("adapter_model.safetensors").is_file());
}

/// `embed --text` with `args`, its last hidden state.
fn hidden(dir: &Path, name: &str, args: &[&str]) -> Vec<f32> {
    let out = dir.join(name);
    let mut all = vec!["embed", "--text", "A film that trains its base.", "--out", arg(&out)];
    all.extend(args);
    ok(&all);
    floats(&out, "last_hidden_state").1
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn export_of_a_train_base_checkpoint_keeps_its_trained_base_weights() {
    let f = fixture();
    let tmp = TempDir::new().unwrap();
    let merged = tmp.path().join("merged");
    let stdout = ok(&["export", "--checkpoint", arg(&f.train_base), "--merged", arg(&merged)]);
    assert!(stdout.contains("train_base true"), "{stdout}");

    // The reference: the trained base weights as a model, with the adapter on top.
    let trained = tmp.path().join("trained-base");
    std::fs::create_dir(&trained).unwrap();
    for file in ["config.json", "tokenizer.json", "vocab.txt"] {
        std::fs::copy(model_dir().join(file), trained.join(file)).unwrap();
    }
    std::fs::copy(
        f.train_base.join("model.safetensors"),
        trained.join("model.safetensors"),
    )
    .unwrap();
    let adapter = f.train_base.join("adapter");
    let want = hidden(
        tmp.path(),
        "want.safetensors",
        &["--model", arg(&trained), "--adapter", arg(&adapter)],
    );
    let got = hidden(tmp.path(), "got.safetensors", &["--model", arg(&merged)]);
    assert!(max_abs_diff(&got, &want) <= 1e-4, "{}", max_abs_diff(&got, &want));
    // What the adapter alone on the untouched base gives (the old export) is another model.
    let dropped = hidden(tmp.path(), "dropped.safetensors", &["--adapter", arg(&adapter)]);
    assert!(
        max_abs_diff(&dropped, &want) > 1e-3,
        "{}",
        max_abs_diff(&dropped, &want)
    );
}

#[test]
fn export_refuses_a_train_base_adapter_alone_and_its_peft_export() {
    let f = fixture();
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let adapter = f.train_base.join("adapter");
    let stderr = fails(&["export", "--adapter", arg(&adapter), "--merged", arg(&out)]);
    assert!(
        stderr.contains("\"train_base\": true")
            && stderr.contains(&format!("pass --checkpoint {}", f.train_base.display())),
        "{stderr}"
    );
    let stderr = fails(&["export", "--checkpoint", arg(&f.train_base), "--peft", arg(&out)]);
    assert!(
        stderr.contains("a PEFT adapter alone cannot carry them: export it with --merged"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn export_peft_of_a_checkpoint_is_its_adapter_and_replaces_only_with_overwrite() {
    let f = fixture();
    let tmp = TempDir::new().unwrap();
    let peft = tmp.path().join("peft");
    ok(&["export", "--checkpoint", arg(&f.lora), "--peft", arg(&peft)]);
    let ours = hidden(tmp.path(), "ours.safetensors", &["--adapter", arg(&peft)]);
    let recorded = hidden(
        tmp.path(),
        "recorded.safetensors",
        &["--adapter", arg(&f.lora.join("adapter"))],
    );
    assert_eq!(ours, recorded);

    std::fs::write(peft.join("stale.txt"), "another output's file").unwrap();
    for target in ["--peft", "--merged"] {
        let stderr = fails(&["export", "--checkpoint", arg(&f.lora), target, arg(&peft)]);
        assert_refused_as_taken(&stderr, target, &peft);
    }
    ok(&[
        "export",
        "--checkpoint",
        arg(&f.lora),
        "--merged",
        arg(&peft),
        "--overwrite",
    ]);
    assert!(!peft.join("stale.txt").exists() && !peft.join("adapter_config.json").exists());
    assert!(peft.join("model.safetensors").is_file() && peft.join("config.json").is_file());
}
