//! The library calls behind `minbert eval`, `predict` and `ensemble`, on checkpoints of the
//! tiny model trained for two steps: scores, prediction files, ensembles and their plan files,
//! and which base model a checkpoint loads on.

#[path = "../../minbert-train/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::tensor::Device;
use common::{ALL_TASKS, config, small_data, tiny_model};
use minbert_data::{CourseTask, Split};
use minbert_eval::ensemble::plan::{self, Choice, Plan};
use minbert_eval::evaluate::check_scorable;
use minbert_eval::scoring::{check_batch_size, checkpoint_base};
use minbert_eval::{
    EnsembleOptions, Ensembler, EvalError, GivenBase, MemberSource, Metric, ScoringOptions, Selection, evaluate,
    predict,
};
use tempfile::TempDir;

/// Two runs of the tiny model (LoRA, two seeds), trained once for all the tests.
struct Fixture {
    _dir: TempDir,
    model: PathBuf,
    data: PathBuf,
    members: [PathBuf; 2],
}

const DEV: usize = 8;

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let (model, data) = (tiny_model(dir.path()), small_data(dir.path(), 16, DEV));
        let members = [1, 2].map(|seed| {
            let out = dir.path().join(format!("run-{seed}"));
            let sets = [
                "adapter.mode=lora",
                "train.max_steps=2",
                "train.batch_size=8",
                &format!("train.seed={seed}"),
            ];
            common::run(&config(&model, &data, ALL_TASKS, &sets), &out);
            out.join("last")
        });
        Fixture {
            _dir: dir,
            model,
            data,
            members,
        }
    })
}

fn options(base: Option<GivenBase>) -> ScoringOptions {
    ScoringOptions {
        data_dir: Some(fixture().data.clone()),
        batch_size: 8,
        device: Device::flex(),
        base,
    }
}

/// The error and its causes, as the CLI prints them.
fn chain(e: &EvalError) -> String {
    let mut line = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        line += &format!(": {c}");
        cause = c.source();
    }
    line
}

#[test]
fn evaluate_scores_every_task_of_a_checkpoint() {
    let f = fixture();
    let evaluation = evaluate(options(None), &f.members[0], Split::Dev, 0).unwrap();
    let tasks = [CourseTask::Sst, CourseTask::Para, CourseTask::Sts];
    assert_eq!(evaluation.examples, tasks.map(|t| (t, DEV)).to_vec());
    assert_eq!(evaluation.meta.mode.name(), "lora");
    assert!(evaluation.lora_rank.is_some());
    assert!(
        (0.0..=1.0).contains(&evaluation.scores.sst_acc),
        "{:?}",
        evaluation.scores
    );
    assert!(evaluation.scores.overall.is_finite());
    let heading = evaluation.heading();
    let (meta, r) = (&evaluation.meta, evaluation.lora_rank.unwrap());
    let trained = format!(
        "(lora mode, r={r}, {} of {} parameters trained), dev split",
        meta.params.trainable, meta.params.total
    );
    assert_eq!(heading, format!("{} {trained}", f.members[0].display()));
    let table = evaluation.table();
    assert!(
        table.starts_with("task     metric        value  examples\nsst      accuracy "),
        "{table}"
    );
    assert_eq!(table.lines().count(), 8, "{table}");

    let subset = evaluate(options(None), &f.members[0], Split::Dev, 3).unwrap();
    assert_eq!(subset.examples, tasks.map(|t| (t, 3)).to_vec());

    let json = f._dir.path().join("eval/scores.json");
    evaluation.write_json(&json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["split"], "dev");
    assert_eq!(value["examples"]["para"], DEV);
    assert_eq!(value["overall"], evaluation.scores.overall);

    let err = evaluate(options(None), &f.members[0], Split::Test, 0).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--split test: the test files have no labels"),
        "{err}"
    );
    let zero = ScoringOptions {
        batch_size: 0,
        ..options(None)
    };
    let err = evaluate(zero, &f.members[0], Split::Dev, 0).unwrap_err();
    assert_eq!(err.to_string(), "--batch-size must be at least 1");
    // The same refusals, before a device is opened for them.
    assert!(matches!(check_scorable(Split::Test), Err(EvalError::TestSplit)));
    assert!(check_scorable(Split::Train).is_ok() && check_scorable(Split::Dev).is_ok());
    assert!(matches!(check_batch_size(0), Err(EvalError::BatchSize)));
    assert!(check_batch_size(1).is_ok());
}

#[test]
fn predict_writes_the_three_course_files() {
    let f = fixture();
    let predictions = predict(options(None), &f.members[0], Split::Dev).unwrap();
    let out = TempDir::new().unwrap();
    let paths = predictions.write(out.path()).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["sst-dev-output.csv", "para-dev-output.csv", "sts-dev-output.csv"]
    );
    for path in &paths {
        let lines = std::fs::read_to_string(path).unwrap().lines().count();
        assert_eq!(lines, DEV + 1, "{}", path.display());
    }
}

fn ensembler(members: MemberSource, selection: Selection) -> Ensembler {
    Ensembler::new(EnsembleOptions {
        members,
        weights: None,
        selection,
        metric: Metric::Overall,
        per_task: false,
        subset: 0,
    })
    .unwrap()
}

#[test]
fn an_ensemble_of_one_scores_as_its_member() {
    let f = fixture();
    let one = ensembler(MemberSource::Checkpoints(vec![f.members[0].clone()]), Selection::All);
    let ensemble = one.run(options(None)).unwrap();
    let alone = evaluate(options(None), &f.members[0], Split::Dev, 0).unwrap();
    assert_eq!(ensemble.members[0].scores, alone.scores);
    assert_eq!(ensemble.scores, alone.scores);
    assert_eq!(ensemble.plan, Plan::same(Choice::equal(vec![0])));
    let predictions = ensemble.predict(Split::Dev).unwrap();
    assert_eq!(predictions.outputs.sts_ids.len(), DEV);
    let table = ensemble.table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("model ") && lines[0].ends_with("sts_pearson  overall"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("run-1/last "),
        "the member by run and checkpoint: {table}"
    );
    assert!(lines[2].starts_with("ensemble of 1 "), "{table}");
    assert_eq!(lines[3], "members (weight): run-1/last (1.000)");
}

/// Each task's members (canonical paths) and weights.
fn by_path(plan: &Plan, checkpoints: &[PathBuf]) -> Vec<(CourseTask, Vec<PathBuf>, Vec<f64>)> {
    let tasks = plan.tasks().into_iter();
    tasks
        .map(|(task, c)| {
            let dirs = c.members.iter().map(|&i| checkpoints[i].canonicalize().unwrap());
            (task, dirs.collect(), c.weights.clone())
        })
        .collect()
}

#[test]
fn a_selected_ensemble_replays_from_its_json_file() {
    let f = fixture();
    let chosen = ensembler(MemberSource::Checkpoints(f.members.to_vec()), Selection::Greedy);
    let ensemble = chosen.run(options(None)).unwrap();
    assert_eq!(ensemble.members.len(), 2);
    assert!(!ensemble.plan.members().is_empty());
    let out = TempDir::new().unwrap();
    let json = out.path().join("sub/ensemble.json");
    ensemble.write_json(&json).unwrap();

    let (checkpoints, read) = plan::read(&json).unwrap();
    assert_eq!(by_path(&read, &checkpoints), by_path(&ensemble.plan, &f.members));
    let replayed = ensembler(MemberSource::Plan(json.clone()), Selection::All);
    let canonical = |dirs: &[PathBuf]| dirs.iter().map(|d| d.canonicalize().unwrap()).collect::<Vec<_>>();
    let used: Vec<PathBuf> = ensemble.plan.members().iter().map(|&i| f.members[i].clone()).collect();
    assert_eq!(canonical(replayed.checkpoints()), canonical(&used));
    let again = replayed.run(options(None)).unwrap();
    assert_eq!(again.scores, ensemble.scores);
}

#[test]
fn a_plan_without_a_task_or_with_a_member_that_lacks_it_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("plan.json");
    let sst = serde_json::json!({"checkpoints": ["a"], "weights": [1.0]});
    std::fs::write(
        &path,
        serde_json::json!({"ensemble": {"tasks": {"sst": sst}}}).to_string(),
    )
    .unwrap();
    let err = plan::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("plan.json") && err.contains("ensemble.tasks.para.checkpoints is missing"),
        "{err}"
    );

    let plan = Plan::same(Choice::equal(vec![0]));
    let member = dir.path().join("sst-only");
    let err = plan
        .check(&path, &[vec![CourseTask::Sst]], &[member])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plan.json")
            && err.contains("sst-only is a member for para")
            && err.contains("does not cover para"),
        "{err}"
    );
    let written = Plan::same(Choice {
        members: vec![0],
        weights: vec![0.0],
    });
    let err = written.check(&path, &[vec![CourseTask::Sst]; 1], &[PathBuf::from("m")]);
    assert!(err.unwrap_err().to_string().contains("the weights of sst"));
}

#[test]
fn a_plan_round_trips_through_its_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("plan.json");
    let plan = Plan {
        sst: Choice {
            members: vec![0, 1],
            weights: vec![0.25, 0.75],
        },
        para: Choice::equal(vec![1]),
        sts: Choice::equal(vec![]),
    };
    let named = [PathBuf::from("runs/a/best"), PathBuf::from("runs/b/best")];
    std::fs::write(&path, serde_json::json!({"ensemble": plan.to_json(&named)}).to_string()).unwrap();
    let (checkpoints, read) = plan::read(&path).unwrap();
    assert_eq!(checkpoints, named.map(|n| dir.path().join(n)));
    assert_eq!(read, plan);
}

#[test]
fn an_exported_model_serves_only_checkpoints_it_is_the_base_of() {
    let f = fixture();
    let checkpoint = &f.members[0];
    let given = |dir: &Path, explicit: bool| GivenBase {
        dir: dir.to_path_buf(),
        origin: format!(
            "{}={}",
            if explicit { "--model" } else { "MINBERT_MODEL" },
            dir.display()
        ),
        explicit,
    };
    assert!(checkpoint_base(None, checkpoint).unwrap().is_none());
    // `--model DIR` resolves to that directory, named for these checkpoints.
    let flag = f.model.to_str().unwrap();
    let named = GivenBase::from_flag_or_env(Some(flag)).unwrap().unwrap();
    assert_eq!((named.dir.as_path(), named.explicit), (f.model.as_path(), true));
    assert_eq!(named.origin, format!("--model={flag}"));
    let missing = f._dir.path().join("no-such-model");
    let err = GivenBase::from_flag_or_env(missing.to_str()).unwrap_err();
    assert!(
        matches!(err, EvalError::Hub(_)) && err.to_string().contains("no-such-model"),
        "{err}"
    );
    // The recorded base, exported: it serves.
    let own = checkpoint_base(Some(&given(&f.model, false)), checkpoint).unwrap();
    assert_eq!(own.unwrap().dir, f.model);
    // Another model, exported: a note, and the recorded base.
    let other = common::model_dir();
    assert!(
        checkpoint_base(Some(&given(&other, false)), checkpoint)
            .unwrap()
            .is_none()
    );
    assert!(evaluate(options(Some(given(&other, false))), checkpoint, Split::Dev, 3).is_ok());
    // Another model, named for this checkpoint: it is taken, and loading it is refused.
    let explicit = given(&other, true);
    let chosen = checkpoint_base(Some(&explicit), checkpoint).unwrap().unwrap();
    assert_eq!(chosen.origin, explicit.origin);
    let err = evaluate(options(Some(explicit.clone())), checkpoint, Split::Dev, 3).unwrap_err();
    let message = chain(&err);
    assert!(
        message.starts_with(&format!("loading checkpoint {}", checkpoint.display()))
            && message.contains(&explicit.origin),
        "{message}"
    );
}
