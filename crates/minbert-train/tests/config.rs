//! Config errors a user sees: one message naming the file (or --set) and the key.

use std::path::Path;

use minbert_task::{HeadKind, Loss, Metric, Mode, Targets};
use minbert_train::{ConfigError, TrainConfig, TrainError, TrainOptions, train};

fn parse(text: &str, sets: &[&str]) -> Result<TrainConfig, String> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    TrainConfig::parse(text, Path::new("run.toml"), &sets).map_err(|e| e.to_string())
}

#[test]
fn an_unknown_key_lists_the_valid_ones_with_its_line() {
    let err = parse("[tasks.sst]\n[train]\nepochs = 2\nlrr = 1e-4\n", &[]).unwrap_err();
    assert!(err.starts_with("run.toml: "), "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("unknown field `lrr`, expected one of"), "{err}");
    assert!(err.contains("`lr`") && err.contains("`weight_decay`"), "{err}");
    let err = parse("[tasks.quora]\n", &[]).unwrap_err();
    assert!(
        err.contains("unknown field `quora`, expected one of `sst`, `para`, `sts`"),
        "{err}"
    );
    let err = parse("[tasks.sst]\n[modle]\n", &[]).unwrap_err();
    assert!(err.contains("unknown field `modle`"), "{err}");
}

#[test]
fn a_wrong_type_or_value_names_the_key() {
    let err = parse("[tasks.sst]\n[train]\nlr = \"fast\"\n", &[]).unwrap_err();
    assert!(
        err.contains("line 3") && err.contains("invalid type: string \"fast\""),
        "{err}"
    );
    let err = parse("[tasks.sst]\n[adapter]\nmode = \"qlora\"\n", &[]).unwrap_err();
    assert!(
        err.contains("unknown variant `qlora`, expected one of `heads`, `full`, `lora`, `dora`"),
        "{err}"
    );
    let err = parse("[tasks.sst]\n[adapter]\ntargets = \"attention\"\n", &[]).unwrap_err();
    assert!(
        err.contains("unknown targets \"attention\", expected \"attn\", \"attn-out\", \"all-linear\""),
        "{err}"
    );
    let err = parse("[tasks.sst]\n[adapter]\nr = 0\n", &[]).unwrap_err();
    assert_eq!(err, "run.toml: adapter.r: must be at least 1 for mode \"lora\", got 0");
    let err = parse(
        "[adapter]\nmode = \"heads\"\n[tasks.sts]\npair = \"separate\"\nhead = \"cosine\"\nloss = \"cosent\"\n",
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("tasks.sts.head: \"cosine\" has no weights, so in mode \"heads\" the task would not train"),
        "{err}"
    );
    // Rank is not checked where there are no adapters.
    assert!(parse("[tasks.sst]\n[adapter]\nmode = \"full\"\nr = 0\n", &[]).is_ok());
    let err = parse("[tasks.sst]\nloss = \"mse\"\n", &[]).unwrap_err();
    assert!(
        err.contains("tasks.sst.loss: \"mse\" does not fit sst; expected \"ce\""),
        "{err}"
    );
    let err = parse("[tasks.sts]\nhead = \"cosine\"\n", &[]).unwrap_err();
    assert!(
        err.contains("tasks.sts.head: \"cosine\" compares two sentence embeddings: set pair = \"separate\""),
        "{err}"
    );
    let err = parse("[tasks.para]\nloss = \"contrastive\"\npair = \"separate\"\n", &[]).unwrap_err();
    assert!(
        err.contains("tasks.para.head: loss \"contrastive\" needs head = \"cosine\""),
        "{err}"
    );
    let err = parse("[train]\nepochs = 1\n", &[]).unwrap_err();
    assert!(err.contains("tasks: no task to train"), "{err}");
    let err = parse("[tasks.sst]\n[train]\nselect = \"sts_pearson\"\n", &[]).unwrap_err();
    assert!(err.contains("train.select: \"sts_pearson\" needs [tasks.sts]"), "{err}");
}

#[test]
fn set_overrides_apply_in_order_and_errors_name_them() {
    let c = parse(
        "[tasks.sst]\n[train]\nlr = 1e-3\n",
        &[
            "train.lr=2e-4",
            "adapter.targets=[\"query\", \"value\"]",
            "tasks.sts.pair=separate",
            "tasks.sts.head=cosine",
            "tasks.sts.loss=cosent",
            "model.path=/m",
        ],
    )
    .unwrap();
    assert_eq!(c.train.lr, 2e-4);
    assert_eq!(
        c.adapter.targets,
        Targets::Modules(vec!["query".into(), "value".into()])
    );
    let sts = c.tasks.sts.as_ref().unwrap();
    assert_eq!((sts.head, sts.loss), (HeadKind::Cosine, Some(Loss::Cosent)));
    assert_eq!(c.model.path.as_deref(), Some("/m"));
    let err = parse("[tasks.sst]\n", &["train.lrr=1"]).unwrap_err();
    assert!(err.starts_with("--set train.lrr=1: unknown field `lrr`"), "{err}");
    let err = parse("[tasks.sst]\n", &["train.epochs=many"]).unwrap_err();
    assert!(
        err.starts_with("--set train.epochs=many: invalid type: string \"many\""),
        "{err}"
    );
    let err = parse("[tasks.sst]\n", &["train"]).unwrap_err();
    assert!(err.contains("expected key=value"), "{err}");
    let err = parse("[tasks.sst]\n", &["adapter.mode=heads", "adapter.mode.x=1"]).unwrap_err();
    assert!(err.contains("adapter.mode is a value, not a section"), "{err}");
}

#[test]
fn the_resolved_config_round_trips_through_toml() {
    let c = parse(
        "[tasks.sst]\nhead = \"mlp\"\n[tasks.sts]\nloss = \"pearson\"\n",
        &["adapter.mode=dora", "adapter.targets=all-linear", "model.encoders=2"],
    )
    .unwrap();
    let text = c.to_toml();
    assert!(
        text.contains("[tasks.sst]") && text.contains("schedule_tasks = \"proportional\""),
        "{text}"
    );
    assert_eq!(parse(&text, &[]).unwrap(), c);
    assert_eq!(c.adapter.mode, Mode::Dora);
    let lora = c.lora_config(None).unwrap();
    assert!(lora.use_dora && lora.r == 8 && lora.lora_alpha == 16.0);
}

#[test]
fn every_shipped_config_is_valid() {
    let dir = minbert_testkit::repo_root().join("configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            TrainConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 5, "{seen} configs in {}", dir.display());
}

/// An SST-only run on the real model over `files` (name, text) in `dir/data`: its config and
/// options, with the run in `dir/run`.
fn sst_run(dir: &Path, files: &[(&str, String)]) -> (TrainConfig, TrainOptions) {
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    for (name, text) in files {
        std::fs::write(data.join(name), text).unwrap();
    }
    let model = minbert_testkit::model_dir();
    let text = format!(
        "[model]\npath = {:?}\n[data]\ndir = {:?}\n[tasks.sst]\n",
        model.display().to_string(),
        data.display().to_string()
    );
    let options = TrainOptions::new(dir.join("run"), burn::tensor::Device::flex());
    (parse(&text, &[]).unwrap(), options)
}

const SST_HEADER: &str = "\tid\tsentence\tsentiment\n";

#[test]
fn a_missing_data_file_is_named_and_leaves_no_run_behind() {
    let dir = tempfile::TempDir::new().unwrap();
    let (config, options) = sst_run(
        dir.path(),
        &[("ids-sst-train.csv", format!("{SST_HEADER}0\tabc\t good\t3\n"))],
    );
    let err = train(&config, &options).err().unwrap().to_string();
    assert!(err.contains("missing file") && err.contains("ids-sst-dev.csv"), "{err}");
    assert!(
        !options.out_dir.exists(),
        "a failed start wrote {}",
        options.out_dir.display()
    );
    let err = train(
        &config,
        &TrainOptions {
            resume: true,
            ..options
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("nothing to resume"), "{err}");
}

#[test]
fn a_task_file_without_a_usable_row_is_an_error_naming_it_and_the_skips() {
    let dir = tempfile::TempDir::new().unwrap();
    let (config, options) = sst_run(
        dir.path(),
        &[
            (
                "ids-sst-train.csv",
                format!("{SST_HEADER}0\ta\t good\tx\n1\tb\t bad\t\n"),
            ),
            ("ids-sst-dev.csv", format!("{SST_HEADER}0\tc\t fine\t3\n")),
        ],
    );
    let err = train(&config, &options).err().unwrap().to_string();
    assert!(
        err.contains("ids-sst-train.csv") && err.contains("2 rows skipped") && err.contains("no sst example"),
        "{err}"
    );
    assert!(
        !options.out_dir.exists(),
        "a failed start wrote {}",
        options.out_dir.display()
    );
}

/// The error a config file at `path` gives, as the typed value.
fn config_error(text: &str, sets: &[&str]) -> (Option<String>, ConfigError) {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match TrainConfig::parse(text, Path::new("runs/a.toml"), &sets) {
        Err(TrainError::Config { origin, error }) => (origin, error),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn config_errors_are_typed_with_their_origin_and_key() {
    let (origin, error) = config_error("[tasks.sst]\n[adapter]\nalpha = -1.0\n", &[]);
    assert_eq!(origin.as_deref(), Some("runs/a.toml"));
    assert_eq!(
        error,
        ConfigError::Key {
            key: "adapter.alpha".into(),
            message: "must be a positive number, got -1".into()
        }
    );
    // A select score whose task is not trained names train.select.
    let (_, error) = config_error("[tasks.sst]\n[train]\nselect = \"quora_f1\"\n", &[]);
    assert!(
        matches!(&error, ConfigError::Key { key, .. } if key == "train.select"),
        "{error:?}"
    );
    // Schema errors (unknown keys, wrong types) keep serde's message; an override is the origin.
    let (origin, error) = config_error("[tasks.sst]\n", &["train.lrr=1"]);
    assert_eq!(origin.as_deref(), Some("--set train.lrr=1"));
    assert!(
        matches!(&error, ConfigError::Schema(m) if m.contains("unknown field `lrr`")),
        "{error:?}"
    );
    // Any score can select the best checkpoint, by the name metrics.jsonl gives it.
    let config = parse("[tasks.sts]\n[train]\nselect = \"sts_spearman\"\n", &[]).unwrap();
    assert_eq!(config.train.select, Metric::StsSpearman);
}
