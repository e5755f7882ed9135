//! `minbert eval`, `predict` and `ensemble` end to end, on checkpoints of tiny training runs over
//! a small copy of the course data (the first 24 examples of each file).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use minbert_data::{CourseOptions, CourseTask, DataDir, Split};
use minbert_eval::predictions::{PredictionTask, read};
use serde_json::Value;
use tempfile::TempDir;

mod common;

use common::*;
use minbert_testkit::repo_root;

const SCORES: [&str; 4] = ["sst_acc", "quora_acc", "sts_pearson", "overall"];

struct Fixture {
    root: PathBuf,
    data: PathBuf,
    /// LoRA, f32, separate pairs, a cosine STS head.
    lora: PathBuf,
    /// DoRA trained in bf16, joint Quora pairs, another max_len and seed.
    dora_bf16: PathBuf,
    /// SST only.
    sst_only: PathBuf,
}

/// Trains the three runs once for all tests of this file.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = shared_fixture_dir("cli_eval");
        let data = small_course_data(&root, 24);
        let config = root.join("tiny.toml");
        std::fs::write(
            &config,
            "[model]\npooling = \"mean\"\n[adapter]\nmode = \"lora\"\nr = 2\n[data]\nmax_len = 32\n\
             [tasks.sst]\n[tasks.para]\npair = \"separate\"\n\
             [tasks.sts]\npair = \"separate\"\nhead = \"cosine\"\nloss = \"cosent\"\n\
             [train]\nepochs = 1\nbatch_size = 8\nlr = 1e-3\n",
        )
        .unwrap();
        let sst_config = root.join("sst.toml");
        std::fs::write(&sst_config, "[adapter]\nmode = \"lora\"\nr = 2\n[data]\nmax_len = 32\n[tasks.sst]\n[train]\nepochs = 1\nbatch_size = 8\n").unwrap();
        let train = |name: &str, config: &Path, sets: &[&str]| train_run(&root, &data, name, config, sets);
        let lora = train("lora", &config, &[]);
        let dora_bf16 = train(
            "dora-bf16",
            &config,
            &["adapter.mode=dora", "train.precision=bf16", "tasks.para.pair=joint", "data.max_len=40", "train.seed=7"],
        );
        let sst_only = train("sst-only", &sst_config, &[]);
        Fixture { root, data, lora, dora_bf16, sst_only }
    })
}

/// `minbert eval` of `checkpoint` on the small dev set, as JSON.
fn eval(checkpoint: &Path) -> Value {
    let f = fixture();
    let out = f.root.join(format!(
        "eval-{}.json",
        checkpoint.parent().unwrap().file_name().unwrap().to_str().unwrap()
    ));
    ok(&[
        "eval",
        "--checkpoint",
        arg(checkpoint),
        "--data-dir",
        arg(&f.data),
        "--json",
        arg(&out),
    ]);
    json(&out)
}

fn assert_close(a: &Value, b: &Value, what: &str) {
    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    assert!((a - b).abs() < 1e-6, "{what}: {a} vs {b}");
}

#[test]
fn eval_reproduces_the_trainers_dev_scores() {
    let f = fixture();
    let stdout = ok(&["eval", "--checkpoint", arg(&f.lora), "--data-dir", arg(&f.data)]);
    assert!(
        stdout.contains("lora mode, r=2") && stdout.contains("sts      Spearman") && stdout.contains("overall"),
        "{stdout}"
    );
    let scores = eval(&f.lora);
    let meta = json(&f.lora.join("meta.json"));
    for key in SCORES.into_iter().chain(["sst_macro_f1", "quora_f1", "sts_spearman"]) {
        assert_close(&scores[key], &meta["scores"][key], key);
    }
    assert_eq!(scores["split"], "dev");
    assert_eq!(scores["examples"]["para"], 24);
}

/// Gold labels of the small dev set, by id.
fn gold(task: CourseTask) -> Vec<(String, f64)> {
    let data = DataDir::resolve(Some(&fixture().data)).unwrap();
    let dataset = data.read(task, Split::Dev, &CourseOptions::default()).unwrap();
    dataset
        .examples
        .iter()
        .map(|e| (e.id.clone(), f64::from(e.label.unwrap().as_score())))
        .collect()
}

#[test]
fn predict_writes_the_course_files_that_score_as_eval_does() {
    let f = fixture();
    let out = f.root.join("predict-dev");
    let stdout = ok(&[
        "predict",
        "--checkpoint",
        arg(&f.lora),
        "--split",
        "dev",
        "--out-dir",
        arg(&out),
        "--data-dir",
        arg(&f.data),
    ]);
    assert_eq!(stdout.matches("wrote ").count(), 3, "{stdout}");
    let text = std::fs::read_to_string(out.join("sst-dev-output.csv")).unwrap();
    assert!(
        text.starts_with("id \t Predicted_Sentiment \n") && text.ends_with(" \n"),
        "{text}"
    );
    let scores = eval(&f.lora);
    for (task, file, key) in [
        (CourseTask::Sst, PredictionTask::Sst, "sst_acc"),
        (CourseTask::Para, PredictionTask::Para, "quora_acc"),
    ] {
        let predicted = read(&out.join(file.file_name("dev")), file).unwrap();
        let gold = gold(task);
        assert_eq!(
            predicted.iter().map(|p| &p.0).collect::<Vec<_>>(),
            gold.iter().map(|g| &g.0).collect::<Vec<_>>(),
            "{key} ids"
        );
        let right = predicted.iter().zip(&gold).filter(|(p, g)| p.1 == g.1).count();
        assert_close(&Value::from(right as f64 / gold.len() as f64), &scores[key], key);
    }
    let sts = read(&out.join("sts-dev-output.csv"), PredictionTask::Sts).unwrap();
    assert_eq!(sts.len(), 24);
    assert!(sts.iter().all(|(_, s)| (-5.0..=5.0).contains(s)), "{sts:?}");

    // The course's Quora test file is not here: SST and STS are written, Quora is named.
    let out = f.root.join("predict-test");
    let result = minbert(&[
        "predict",
        "--checkpoint",
        arg(&f.lora),
        "--split",
        "test",
        "--out-dir",
        arg(&out),
        "--data-dir",
        arg(&f.data),
    ]);
    assert!(result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("no test predictions for para") && stderr.contains("quora-test-student.csv"),
        "{stderr}"
    );
    assert!(out.join("sst-test-output.csv").is_file() && out.join("sts-test-output.csv").is_file());
    assert!(!out.join("para-test-output.csv").exists());
    assert_eq!(
        read(&out.join("sts-test-output.csv"), PredictionTask::Sts)
            .unwrap()
            .len(),
        24
    );
}

#[test]
fn predict_checks_its_output_folder_before_scoring() {
    let f = fixture();
    let file = f.root.join("a-file");
    std::fs::write(&file, "").unwrap();
    let out_dir = file.join("predictions");
    let msg = fails(&[
        "predict",
        "--checkpoint",
        arg(&f.lora),
        "--split",
        "dev",
        "--out-dir",
        arg(&out_dir),
        "--data-dir",
        arg(&f.data),
    ]);
    assert!(msg.contains("--out-dir") && msg.contains(arg(&out_dir)), "{msg}");
    assert!(!msg.contains("examples in"), "scored before failing: {msg}");
    assert_eq!(
        msg.matches("Not a directory").count(),
        1,
        "the cause is said once: {msg}"
    );
}

fn ensemble(name: &str, extra: &[&str]) -> (Value, PathBuf, String) {
    let f = fixture();
    let json_path = f.root.join(format!("{name}.json"));
    let out = f.root.join(name);
    let mut args = vec![
        "ensemble",
        "--data-dir",
        arg(&f.data),
        "--json",
        arg(&json_path),
        "--out-dir",
        arg(&out),
    ];
    args.extend(extra);
    let stdout = ok(&args);
    (json(&json_path), out, stdout)
}

fn same_files(a: &Path, b: &Path) {
    for task in PredictionTask::ALL {
        let name = task.file_name("dev");
        assert_eq!(
            std::fs::read(a.join(&name)).unwrap(),
            std::fs::read(b.join(&name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn an_ensemble_of_one_or_of_two_identical_members_equals_the_member() {
    let f = fixture();
    let single = eval(&f.lora);
    let member_files = f.root.join("member-files");
    ok(&[
        "predict",
        "--checkpoint",
        arg(&f.lora),
        "--split",
        "dev",
        "--out-dir",
        arg(&member_files),
        "--data-dir",
        arg(&f.data),
    ]);
    for (name, members) in [
        ("one", vec!["--checkpoint", arg(&f.lora)]),
        (
            "twice",
            vec!["--checkpoint", arg(&f.lora), "--checkpoint", arg(&f.lora)],
        ),
    ] {
        let (report, out, stdout) = ensemble(name, &members);
        for key in SCORES {
            assert_close(&report["ensemble"]["scores"][key], &single[key], key);
        }
        assert!(stdout.contains("ensemble of"), "{stdout}");
        same_files(&out, &member_files);
    }
}

#[test]
fn members_of_other_precisions_and_encodings_combine_with_normalised_weights() {
    let f = fixture();
    let (report, _, stdout) = ensemble(
        "weighted",
        &[
            "--checkpoint",
            arg(&f.lora),
            "--checkpoint",
            arg(&f.dora_bf16),
            "--weights",
            "3,1",
        ],
    );
    assert_eq!(report["ensemble"]["weights"], serde_json::json!([0.75, 0.25]));
    let dora = eval(&f.dora_bf16);
    for key in SCORES {
        assert_close(&report["members"][1]["scores"][key], &dora[key], key);
    }
    assert!(stdout.contains("dora-bf16/best"), "{stdout}");

    let (report, _, _) = ensemble(
        "greedy",
        &[
            "--checkpoint",
            arg(&f.lora),
            "--checkpoint",
            arg(&f.dora_bf16),
            "--select",
            "greedy",
        ],
    );
    let chosen = report["ensemble"]["checkpoints"].as_array().unwrap();
    assert!(!chosen.is_empty() && chosen.len() <= 2);
    let best_member = report["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["scores"]["overall"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert!(
        report["ensemble"]["scores"]["overall"].as_f64().unwrap() >= best_member - 1e-12,
        "{report}"
    );

    // Exhaustive selection tries both members alone and together: at least as good as greedy.
    let (best, _, _) = ensemble(
        "best",
        &[
            "--checkpoint",
            arg(&f.lora),
            "--checkpoint",
            arg(&f.dora_bf16),
            "--select",
            "best",
        ],
    );
    assert_eq!(best["select"], "best");
    let overall = |r: &Value| r["ensemble"]["scores"]["overall"].as_f64().unwrap();
    assert!(overall(&best) >= overall(&report) - 1e-12, "{best}");
    let msg = fails(&[
        "ensemble",
        "--checkpoint",
        arg(&f.lora),
        "--weights",
        "1",
        "--select",
        "best",
        "--data-dir",
        arg(&f.data),
    ]);
    assert!(msg.contains("--select best"), "{msg}");

    // Members chosen per task: each task's score is the best any subset gets on it, so at
    // least the one-set-for-all ensemble's and every member's.
    let (per_task, _, _) = ensemble(
        "per-task",
        &[
            "--checkpoint",
            arg(&f.lora),
            "--checkpoint",
            arg(&f.dora_bf16),
            "--select",
            "best",
            "--per-task",
        ],
    );
    assert_eq!(per_task["per_task"], true);
    for (task, key) in [("sst", "sst_acc"), ("para", "quora_acc"), ("sts", "sts_pearson")] {
        let score = per_task["ensemble"]["scores"][key].as_f64().unwrap();
        assert!(
            score >= best["ensemble"]["scores"][key].as_f64().unwrap() - 1e-12,
            "{key}: {per_task}"
        );
        for member in per_task["members"].as_array().unwrap() {
            assert!(
                score >= member["scores"][key].as_f64().unwrap() - 1e-12,
                "{key}: {per_task}"
            );
        }
        assert!(
            !per_task["ensemble"]["tasks"][task]["checkpoints"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{per_task}"
        );
    }
    // Checkpoints that cover SST only: the other tasks have nothing to choose from.
    let (sst_only, _, stdout) = ensemble(
        "per-task-sst",
        &[
            "--checkpoint",
            arg(&f.sst_only),
            "--checkpoint",
            arg(&f.sst_only),
            "--select",
            "best",
            "--per-task",
        ],
    );
    assert!(
        stdout.contains("para members: none (no checkpoint covers para)"),
        "{stdout}"
    );
    assert_close(
        &sst_only["ensemble"]["scores"]["sst_acc"],
        &eval(&f.sst_only)["sst_acc"],
        "sst_acc",
    );
    let msg = fails(&[
        "ensemble",
        "--checkpoint",
        arg(&f.lora),
        "--per-task",
        "--data-dir",
        arg(&f.data),
    ]);
    assert!(msg.contains("--per-task") && msg.contains("--select"), "{msg}");
}

#[test]
fn members_that_cover_other_tasks_combine_task_by_task() {
    let f = fixture();
    let lora = eval(&f.lora);
    let sst_only = eval(&f.sst_only);
    // Every task is averaged over the members that cover it: SST over both, Quora and STS
    // from the only member that covers them.
    let (mixed, _, stdout) = ensemble(
        "mixed",
        &["--checkpoint", arg(&f.lora), "--checkpoint", arg(&f.sst_only)],
    );
    let members = |r: &Value, task: &str| r["ensemble"]["tasks"][task]["checkpoints"].as_array().unwrap().len();
    assert_eq!(
        (members(&mixed, "sst"), members(&mixed, "para"), members(&mixed, "sts")),
        (2, 1, 1),
        "{mixed}"
    );
    for key in ["quora_acc", "quora_f1", "sts_pearson", "sts_spearman"] {
        assert_close(&mixed["ensemble"]["scores"][key], &lora[key], key);
    }
    assert!(
        stdout.contains("sst members") && stdout.contains("sts members"),
        "{stdout}"
    );
    // Weights apply among the members of each task: weight 0 leaves SST to the other member,
    // and a task whose members all weigh 0 is an error.
    let (weighted, _, _) = ensemble(
        "mixed-1-0",
        &[
            "--checkpoint",
            arg(&f.lora),
            "--checkpoint",
            arg(&f.sst_only),
            "--weights",
            "1,0",
        ],
    );
    assert_close(&weighted["ensemble"]["scores"]["sst_acc"], &lora["sst_acc"], "sst_acc");
    let (weighted, _, _) = ensemble(
        "mixed-1-3",
        &[
            "--checkpoint",
            arg(&f.lora),
            "--checkpoint",
            arg(&f.sst_only),
            "--weights",
            "1,3",
        ],
    );
    assert_eq!(
        weighted["ensemble"]["tasks"]["sst"]["weights"],
        serde_json::json!([0.25, 0.75]),
        "{weighted}"
    );
    assert_eq!(
        weighted["ensemble"]["tasks"]["para"]["weights"],
        serde_json::json!([1.0]),
        "{weighted}"
    );
    assert_close(
        &weighted["ensemble"]["scores"]["sts_pearson"],
        &lora["sts_pearson"],
        "sts_pearson",
    );
    let msg = fails(&[
        "ensemble",
        "--checkpoint",
        arg(&f.lora),
        "--checkpoint",
        arg(&f.sst_only),
        "--weights",
        "0,1",
        "--data-dir",
        arg(&f.data),
    ]);
    assert!(
        msg.contains("--weights") && msg.contains("para") && msg.contains("sum to 0"),
        "{msg}"
    );
    // Chosen per task, SST is at least as good as either member's.
    let (chosen, _, _) = ensemble(
        "mixed-best",
        &[
            "--checkpoint",
            arg(&f.lora),
            "--checkpoint",
            arg(&f.sst_only),
            "--select",
            "best",
            "--per-task",
        ],
    );
    let sst = chosen["ensemble"]["scores"]["sst_acc"].as_f64().unwrap();
    assert!(
        sst >= lora["sst_acc"].as_f64().unwrap() - 1e-12 && sst >= sst_only["sst_acc"].as_f64().unwrap() - 1e-12,
        "{chosen}"
    );
    assert_eq!(members(&chosen, "para"), 1, "{chosen}");

    // The plan names its members relative to itself (the binary runs in another folder).
    for name in chosen["ensemble"]["checkpoints"].as_array().unwrap() {
        let name = Path::new(name.as_str().unwrap());
        assert!(
            name.is_relative() && [&f.lora, &f.sst_only].contains(&&f.root.join(name)),
            "{chosen}"
        );
    }
    // A recorded choice replays: the same members and weights per task, the same scores.
    let plan = f.root.join("mixed-best.json");
    let (replayed, _, _) = ensemble("mixed-replayed", &["--plan", arg(&plan)]);
    assert_eq!(replayed["ensemble"]["tasks"], chosen["ensemble"]["tasks"]);
    for key in SCORES {
        assert_close(
            &replayed["ensemble"]["scores"][key],
            &chosen["ensemble"]["scores"][key],
            key,
        );
    }
    let bad = f.root.join("bad-plan.json");
    std::fs::write(&bad, r#"{"ensemble": {"tasks": {"sst": {"checkpoints": []}}}}"#).unwrap();
    let msg = fails(&["ensemble", "--plan", arg(&bad), "--data-dir", arg(&f.data)]);
    assert!(
        msg.contains("bad-plan.json") && msg.contains("ensemble.tasks.sst.weights"),
        "{msg}"
    );
    let plan = serde_json::json!({"ensemble": {"tasks": {
        "sst": {"checkpoints": [f.sst_only], "weights": [1.0]},
        "para": {"checkpoints": [f.sst_only], "weights": [1.0]},
        "sts": {"checkpoints": [], "weights": []},
    }}});
    std::fs::write(&bad, plan.to_string()).unwrap();
    let msg = fails(&["ensemble", "--plan", arg(&bad), "--data-dir", arg(&f.data)]);
    assert!(msg.contains("sst-only") && msg.contains("does not cover para"), "{msg}");

    // One set of members for all tasks cannot be chosen among members that cover different tasks.
    let msg = fails(&[
        "ensemble",
        "--checkpoint",
        arg(&f.lora),
        "--checkpoint",
        arg(&f.sst_only),
        "--select",
        "greedy",
        "--data-dir",
        arg(&f.data),
    ]);
    assert!(msg.contains("sst-only") && msg.contains("--per-task"), "{msg}");
}

#[test]
fn bad_checkpoints_and_splits_are_clear_errors() {
    let f = fixture();
    let data = arg(&f.data);
    let broken = f.root.join("broken");
    std::fs::create_dir_all(broken.join("adapter")).unwrap();
    for file in [
        "meta.json",
        "heads.safetensors",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
    ] {
        std::fs::copy(f.lora.join(file), broken.join(file)).unwrap();
    }
    std::fs::remove_file(broken.join("heads.safetensors")).unwrap();
    let msg = fails(&["eval", "--checkpoint", arg(&broken), "--data-dir", data]);
    assert!(msg.contains("heads.safetensors") && msg.contains("broken"), "{msg}");
    std::fs::copy(f.lora.join("heads.safetensors"), broken.join("heads.safetensors")).unwrap();
    std::fs::remove_file(broken.join("adapter/adapter_model.safetensors")).unwrap();
    let msg = fails(&["eval", "--checkpoint", arg(&broken), "--data-dir", data]);
    assert!(msg.contains("adapter_model.safetensors"), "{msg}");

    let msg = fails(&["eval", "--checkpoint", arg(&f.data), "--data-dir", data]);
    assert!(msg.contains("not a checkpoint directory: no meta.json"), "{msg}");

    let msg = fails(&[
        "eval",
        "--checkpoint",
        arg(&f.lora),
        "--split",
        "test",
        "--data-dir",
        data,
    ]);
    assert!(msg.contains("--split test") && msg.contains("minbert predict"), "{msg}");

    // clap rejects a split that does not exist (exit code 2), listing the ones that do.
    let out = minbert(&["eval", "--checkpoint", arg(&f.lora), "--split", "validation"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'validation'") && stderr.contains("dev"), "{stderr}");

    let msg = fails(&[
        "ensemble",
        "--checkpoint",
        arg(&f.lora),
        "--weights",
        "1,2",
        "--data-dir",
        data,
    ]);
    assert!(msg.contains("--weights: 2 weights for 1 checkpoints"), "{msg}");
}

/// The released LoRA r=1 checkpoint (`checkpoints/lora-r1`) scores what its `meta.json` says on
/// the dev sample it was scored on, from this clone, its base model and data.
#[test]
fn the_released_lora_r1_checkpoint_reproduces_its_dev_scores() {
    let checkpoint = repo_root().join("checkpoints/lora-r1");
    let meta = json(&checkpoint.join("meta.json"));
    let subset = meta["data"]["dev_subset"].as_u64().unwrap();
    let out = TempDir::new().unwrap();
    let scores = out.path().join("scores.json");
    let model = model_dir();
    ok(&[
        "eval",
        "--checkpoint",
        arg(&checkpoint),
        "--subset",
        &subset.to_string(),
        "--model",
        arg(&model),
        "--data-dir",
        arg(&data_dir()),
        "--json",
        arg(&scores),
    ]);
    let scores = json(&scores);
    // Another CPU's kernels may round differently: allow one borderline example per task to
    // flip (here they agree to 1e-7).
    let one_example = 1.0 / subset as f64 + 1e-9;
    for (key, tolerance) in [
        ("sst_acc", one_example),
        ("quora_acc", one_example),
        ("sts_pearson", 1e-4),
        ("overall", one_example),
    ] {
        let (got, want) = (scores[key].as_f64().unwrap(), meta["scores"][key].as_f64().unwrap());
        assert!((got - want).abs() <= tolerance, "{key}: {got} vs {want} in meta.json");
    }
}

/// The released per-task ensemble (`checkpoints/ensemble-per-task.json`, specialists and
/// multitask adapters) scores what it recorded on the dev sample it was chosen on.
#[test]
fn the_released_per_task_ensemble_reproduces_its_dev_scores() {
    // Its checkpoint paths are relative to the plan file, so it runs from any folder as it is.
    let plan_path = repo_root().join("checkpoints/ensemble-per-task.json");
    let recorded = json(&plan_path);
    let out = TempDir::new().unwrap();
    let scores = out.path().join("scores.json");
    let subset = recorded["subset"].as_u64().unwrap();
    ok(&[
        "ensemble",
        "--plan",
        arg(&plan_path),
        "--subset",
        &subset.to_string(),
        "--model",
        arg(&model_dir()),
        "--data-dir",
        arg(&data_dir()),
        "--json",
        arg(&scores),
    ]);
    let (got, want) = (&json(&scores)["ensemble"]["scores"], &recorded["ensemble"]["scores"]);
    let one_example = 1.0 / subset as f64 + 1e-9;
    for (key, tolerance) in [
        ("sst_acc", one_example),
        ("quora_acc", one_example),
        ("sts_pearson", 1e-4),
        ("overall", one_example),
    ] {
        let (got, want) = (got[key].as_f64().unwrap(), want[key].as_f64().unwrap());
        assert!(
            (got - want).abs() <= tolerance,
            "{key}: {got} vs {want} in ensemble-per-task.json"
        );
    }
}
