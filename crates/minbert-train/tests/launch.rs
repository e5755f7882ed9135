//! Setting a run up from a command line: its folder and config file, the base model and data
//! folder made explicit, and the interrupt flag that SIGINT sets.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use minbert_hub::{DEFAULT_MODEL, ModelOrigin};
use minbert_train::{TrainConfig, interrupt_on_signals, run_paths, summary_report};
use tempfile::TempDir;

#[test]
fn the_run_folder_defaults_to_runs_and_the_config_to_the_runs_own() {
    let (out, config) = run_paths(None, Some(Path::new("configs/lora.toml"))).unwrap();
    assert_eq!(
        (out, config),
        (PathBuf::from("runs/lora"), PathBuf::from("configs/lora.toml"))
    );
    let (out, config) = run_paths(Some(Path::new("runs/x")), None).unwrap();
    assert_eq!(
        (out, config),
        (PathBuf::from("runs/x"), PathBuf::from("runs/x/config.toml"))
    );
    let err = run_paths(None, None).unwrap_err().to_string();
    assert_eq!(err, "--resume needs --out DIR (the run to continue)");
}

#[test]
fn the_given_model_wins_and_becomes_absolute_and_the_data_folder_is_filled_in() {
    let parse = || TrainConfig::parse("[tasks.sst]\n", Path::new("t.toml"), &[]).unwrap();
    let data = minbert_testkit::data_dir();
    let model = minbert_testkit::model_dir();
    let mut config = parse();
    config.model.path = Some("org/recorded".into());
    let given = (model.display().to_string(), ModelOrigin::Flag);
    config.resolve_paths(Some(given), Some(&data)).unwrap();
    let canonical = std::fs::canonicalize(&model).unwrap().display().to_string();
    assert_eq!(config.model.path, Some(canonical));
    assert_eq!(config.data.dir.as_deref(), Some(data.as_path()));

    let mut config = parse();
    config.resolve_paths(None, Some(&data)).unwrap();
    assert_eq!(config.model.path.as_deref(), Some(DEFAULT_MODEL));

    let mut config = parse();
    config.model.path = Some("../no/such/model".into());
    let err = config.resolve_paths(None, Some(&data)).unwrap_err().to_string();
    assert!(err.starts_with("model.path: "), "{err}");
}

#[test]
fn a_signal_sets_the_interrupt_flag() {
    let flag = interrupt_on_signals().unwrap();
    assert!(!flag.load(Ordering::SeqCst));
    signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
    assert!(flag.load(Ordering::SeqCst));
}

#[test]
fn the_summary_report_names_the_run_and_the_scores_of_the_tasks_it_trained() {
    let _serial = common::serial();
    let dir = TempDir::new().unwrap();
    let (model, data) = (common::tiny_model(dir.path()), common::small_data(dir.path(), 8, 8));
    let config = common::config(
        &model,
        &data,
        "[tasks.sst]\n",
        &["train.epochs=1", "train.batch_size=8"],
    );
    let out = dir.path().join("run");
    let s = common::run(&config, &out).summary;
    let report = summary_report(&s, &out);
    let lines: Vec<&str> = report.lines().collect();
    let first = format!(
        "run {} {} after {} steps ({} epochs)",
        out.display(),
        s.status,
        s.steps,
        s.epochs
    );
    assert_eq!(lines[0], first);
    assert!(
        lines[1].starts_with("best (") && lines[1].contains("sst_acc "),
        "{report}"
    );
    assert!(!lines[1].contains("sts_pearson"), "{report}");
    assert!(
        lines[2].starts_with("time: training ") && lines[3].starts_with("params: "),
        "{report}"
    );
    assert_eq!((lines.len(), report.ends_with('\n')), (4, true));
}
