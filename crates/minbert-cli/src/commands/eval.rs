//! `minbert eval`: the course's scores of a checkpoint on dev (or train).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use minbert_eval::Scores;
use minbert_eval::metrics::fmt_score;
use minbert_eval::outputs::GoldLabels;
use serde_json::json;

use crate::scoring::{Scorer, ScoringArgs, SplitArg, print_notes};
use minbert_task::files::write_json;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint directory: a run's best/ or last/, or a released checkpoint.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The split to score; test has no labels (see `minbert predict`).
    #[arg(long, value_enum, default_value = "dev")]
    pub split: SplitArg,
    /// Score a seeded sample of N examples per task: the same sample the trainer scores with
    /// data.dev_subset = N (0: every example).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub subset: usize,
    /// Also write the scores to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

pub fn run(args: EvalArgs) -> Result<()> {
    if args.split == SplitArg::Test {
        bail!(
            "--split test: the test files have no labels to score; `minbert predict --split test` writes their predictions"
        );
    }
    let scorer = Scorer::new(args.scoring)?;
    let checkpoint = scorer.load(&args.checkpoint)?;
    let split = args.split.split();
    let (splits, _) = scorer.read_splits(&checkpoint, split, args.subset, false)?;
    print_notes(&splits);
    let outputs = scorer.outputs(
        &checkpoint,
        &splits,
        &format!("{} {}", args.checkpoint.display(), split.name()),
    );
    let scores = GoldLabels::of(&splits)?.score(&outputs);
    let examples: serde_json::Map<String, serde_json::Value> = splits
        .iter()
        .map(|s| (s.task.name().to_string(), json!(s.dataset.len())))
        .collect();
    let meta = &checkpoint.meta;
    println!(
        "{} ({} mode{}, {} of {} parameters trained), {} split",
        args.checkpoint.display(),
        meta.mode.name(),
        checkpoint
            .lora
            .as_ref()
            .map_or(String::new(), |l| format!(", r={}", l.r)),
        meta.params.trainable,
        meta.params.total,
        split.name()
    );
    print!("{}", score_table(&scores, &examples));
    if let Some(path) = &args.json {
        let mut value = serde_json::to_value(scores)?;
        let object = value.as_object_mut().expect("scores are an object");
        object.insert("checkpoint".into(), json!(args.checkpoint));
        object.insert("split".into(), json!(split.name()));
        object.insert("examples".into(), json!(examples));
        write_json(path, &value)?;
    }
    Ok(())
}

/// A table of every metric of the tasks scored (`examples`: per task, how many).
pub fn score_table(scores: &Scores, examples: &serde_json::Map<String, serde_json::Value>) -> String {
    let rows = [
        ("sst", "accuracy", scores.sst_acc),
        ("sst", "macro-F1", scores.sst_macro_f1),
        ("quora", "accuracy", scores.quora_acc),
        ("quora", "F1", scores.quora_f1),
        ("sts", "Pearson", scores.sts_pearson),
        ("sts", "Spearman", scores.sts_spearman),
    ];
    let mut out = format!("{:<8} {:<10} {:>8} {:>9}\n", "task", "metric", "value", "examples");
    for (task, metric, value) in rows {
        let key = if task == "quora" { "para" } else { task };
        if let Some(n) = examples.get(key) {
            out += &format!("{task:<8} {metric:<10} {:>8} {n:>9}\n", fmt_score(value));
        }
    }
    out += &format!("{:<8} {:<10} {:>8}\n", "overall", "", fmt_score(scores.overall));
    out
}

/// `dir`'s display name for tables: the run and checkpoint (`runs/x/best` → `x/best`).
pub fn short_name(dir: &Path) -> String {
    let parts: Vec<String> = dir
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}
