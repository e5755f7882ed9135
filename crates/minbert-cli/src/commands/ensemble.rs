//! `minbert ensemble`: several checkpoints combined by averaging what they predict (SST class
//! probabilities, Quora paraphrase probabilities, STS scores), scored on dev, optionally with
//! the choice of members on dev (greedy or exhaustive) and the course's prediction files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use minbert_data::CourseTask;
use minbert_eval::ensemble::{
    MAX_EXHAUSTIVE_MEMBERS, TaskOutputs, average, best_subset_select, greedy_select, merge_tasks, normalise_weights,
};
use minbert_eval::metrics::fmt_score;
use minbert_eval::outputs::{GoldLabels, TaskSplit};
use minbert_eval::predictions::write_outputs;
use minbert_eval::{Metric, Scores};
use minbert_task::checkpoint::read_meta;
use serde_json::json;

use minbert_task::files::{parent_folder, write_json};

use crate::commands::eval::short_name;
use crate::out_dir::{OutDir, OverwriteArg};
use crate::scoring::{Scorer, ScoringArgs, SplitArg, print_notes, warn_missing};

#[derive(Args, Debug)]
pub struct EnsembleArgs {
    /// A member's checkpoint directory (repeat for each member).
    #[arg(
        long = "checkpoint",
        value_name = "DIR",
        required_unless_present = "plan",
        conflicts_with = "plan"
    )]
    pub checkpoints: Vec<PathBuf>,
    /// Combine the members and weights per task that an earlier `--json` file recorded (its
    /// `ensemble.tasks`), e.g. a choice made on one dev subset, scored on another or predicting
    /// test; its checkpoint paths are read as written there.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["weights", "select", "per_task"])]
    pub plan: Option<PathBuf>,
    /// Weights of the members, in --checkpoint order (normalised to sum to 1) [default: equal]
    #[arg(long, value_name = "W,W,...", value_delimiter = ',')]
    pub weights: Option<Vec<f64>>,
    /// Which members to combine: all of them; `greedy`, a forward selection on dev (start with
    /// the best member, add the one that raises --metric most, while it rises); or `best`, the
    /// subset with the highest --metric on dev among all subsets (at most 16 members).
    #[arg(long, value_enum, default_value = "all")]
    pub select: Select,
    /// The dev score that `--select greedy` and `--select best` maximise.
    #[arg(long, value_enum, default_value_t = Metric::Overall)]
    pub metric: Metric,
    /// Select each task's members on its own: SST's by sst_acc, Quora's by quora_acc and STS's
    /// by sts_pearson (instead of one set of members for all tasks by --metric).
    #[arg(long, conflicts_with = "metric")]
    pub per_task: bool,
    /// Score on a seeded sample of N dev examples per task (as data.dev_subset; 0: all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub subset: usize,
    /// Write the ensemble's prediction files for --split here: a new or empty folder, or with
    /// --overwrite one replaced whole.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub overwrite: OverwriteArg,
    /// The split of the prediction files.
    #[arg(long, value_enum, default_value = "dev", requires = "out_dir")]
    pub split: SplitArg,
    /// Also write the members' and the ensemble's scores to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Select {
    All,
    Greedy,
    /// Every non-empty subset tried; the one with the highest --metric on dev.
    Best,
}

/// One member's outputs and scores on dev.
struct Member {
    name: String,
    dev: TaskOutputs,
    scores: Scores,
}

pub fn run(mut args: EnsembleArgs) -> Result<()> {
    let recorded = match &args.plan {
        Some(path) => {
            let (checkpoints, plan) = read_plan(path)?;
            args.checkpoints = checkpoints;
            Some(plan)
        }
        None => None,
    };
    check_args(&args)?;
    check_out_dir(&args)?;
    // Which tasks each member answers; checked before the slow part. Members may differ (task
    // specialists): each task is then averaged over the members that cover it.
    let covers = read_covers(&args)?;
    if let (Some(plan), Some(path)) = (&recorded, &args.plan) {
        check_plan(plan, path, &covers, &args.checkpoints)?;
    }
    // Without selection the plan needs no outputs: a bad --weights fails before the slow part.
    let fixed_plan = match recorded {
        Some(plan) => Some(plan),
        None => unselected_plan(&args, &covers)?,
    };
    let scorer = Scorer::new(args.scoring.clone())?;
    let (members, gold) = score_members(&scorer, &args)?;
    let plan = match fixed_plan {
        Some(plan) => plan,
        None => select_plan(&args, &covers, &members, &gold)?,
    };
    let ensemble = plan.apply(|i| &members[i].dev)?;
    let scores = gold.score(&ensemble);
    print_scores(&members, &plan, &scores);
    if let Some(out_dir) = &args.out_dir {
        write_predictions(out_dir, &args, &scorer, &plan, ensemble)?;
    }
    if let Some(path) = &args.json {
        write_summary(path, &args, &members, &plan, &scores)?;
    }
    Ok(())
}

/// `--out-dir`, refused (before the slow part) if it is taken or holds a member.
fn check_out_dir(args: &EnsembleArgs) -> Result<()> {
    let Some(dir) = &args.out_dir else {
        return Ok(());
    };
    let inputs: Vec<(&str, &Path)> = args
        .checkpoints
        .iter()
        .map(|dir| ("the member --checkpoint", dir.as_path()))
        .collect();
    OutDir::new("--out-dir", dir, args.overwrite).check(&inputs)
}

/// `--select`'s value as the user typed it.
fn select_name(select: Select) -> String {
    select
        .to_possible_value()
        .expect("no skipped variants")
        .get_name()
        .to_string()
}

/// The flags that exclude or need each other, beyond what clap checks.
fn check_args(args: &EnsembleArgs) -> Result<()> {
    let n = args.checkpoints.len();
    let select_name = select_name(args.select);
    if let Some(weights) = &args.weights {
        if weights.len() != n {
            bail!(
                "--weights: {} weights for {n} checkpoints; give one per --checkpoint",
                weights.len()
            );
        }
        if args.select != Select::All {
            bail!(
                "--weights and --select {select_name} exclude each other: {select_name} selection weighs the members it picks equally"
            );
        }
        normalise_weights(weights).map_err(|e| anyhow::anyhow!("--weights: {e}"))?;
    }
    if args.per_task && args.select == Select::All {
        bail!("--per-task chooses each task's members on dev: give it with --select greedy or --select best");
    }
    if args.select == Select::Best && n > MAX_EXHAUSTIVE_MEMBERS {
        bail!(
            "--select best: {n} checkpoints, but an exhaustive search takes at most {MAX_EXHAUSTIVE_MEMBERS}; use --select greedy"
        );
    }
    Ok(())
}

/// The tasks each member covers (from its `meta.json`); members that differ need `--per-task`
/// to be selected.
fn read_covers(args: &EnsembleArgs) -> Result<Vec<Vec<CourseTask>>> {
    let covers: Vec<Vec<CourseTask>> = args
        .checkpoints
        .iter()
        .map(|dir| Ok(read_meta(dir)?.tasks))
        .collect::<Result<_>>()?;
    if let Some(i) = covers.iter().position(|tasks| *tasks != covers[0])
        && args.select != Select::All
        && !args.per_task
    {
        let names = |tasks: &[CourseTask]| tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ");
        bail!(
            "{} covers the tasks [{}] but {} covers [{}]: members that cover different tasks are chosen per task; add --per-task to --select {}",
            args.checkpoints[i].display(),
            names(&covers[i]),
            args.checkpoints[0].display(),
            names(&covers[0]),
            select_name(args.select)
        );
    }
    Ok(covers)
}

/// The members (indices) that answer `task`.
fn covering(covers: &[Vec<CourseTask>], task: CourseTask) -> Vec<usize> {
    (0..covers.len()).filter(|&i| covers[i].contains(&task)).collect()
}

/// A recorded plan's members cover the tasks they serve, and its weights are weights.
fn check_plan(plan: &Plan, path: &Path, covers: &[Vec<CourseTask>], checkpoints: &[PathBuf]) -> Result<()> {
    for (task, choice) in plan.tasks() {
        if let Some(&i) = choice.members.iter().find(|&&i| !covers[i].contains(&task)) {
            bail!(
                "--plan {}: {} is a member for {task}, but that checkpoint does not cover {task}",
                path.display(),
                checkpoints[i].display()
            );
        }
        if !choice.members.is_empty() {
            normalise_weights(&choice.weights)
                .map_err(|e| anyhow::anyhow!("--plan {}: the weights of {task}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The plan of `--select all`: every member that covers a task, with `--weights` or equal
/// weights; `None` when the plan is selected on dev.
fn unselected_plan(args: &EnsembleArgs, covers: &[Vec<CourseTask>]) -> Result<Option<Plan>> {
    if args.select != Select::All {
        return Ok(None);
    }
    let plan = Plan::per_task(|task| {
        let members = covering(covers, task);
        let Some(w) = &args.weights else {
            return Ok(Choice::equal(members));
        };
        let weights: Vec<f64> = members.iter().map(|&i| w[i]).collect();
        if members.is_empty() {
            return Ok(Choice { members, weights });
        }
        let weights = normalise_weights(&weights)
            .map_err(|e| anyhow::anyhow!("--weights of the members that cover {task}: {e}"))?;
        Ok(Choice { members, weights })
    })?;
    Ok(Some(plan))
}

/// Every member's dev outputs and scores; each task's gold labels come from the first member
/// that covers it.
fn score_members(scorer: &Scorer, args: &EnsembleArgs) -> Result<(Vec<Member>, GoldLabels)> {
    let mut gold = GoldLabels::default();
    let mut gold_tasks: Vec<CourseTask> = Vec::new();
    let mut members = Vec::with_capacity(args.checkpoints.len());
    for dir in &args.checkpoints {
        let checkpoint = scorer.load(dir)?;
        let (splits, _) = scorer.read_splits(&checkpoint, minbert_data::Split::Dev, args.subset, false)?;
        let new: Vec<&TaskSplit> = splits.iter().filter(|s| !gold_tasks.contains(&s.task)).collect();
        print_notes(new.iter().copied());
        gold.add(new.iter().copied())?;
        gold_tasks.extend(new.iter().map(|s| s.task));
        let dev = scorer.outputs(&checkpoint, &splits, &format!("{} dev", dir.display()));
        let scores = gold.score(&dev);
        members.push(Member {
            name: short_name(dir),
            dev,
            scores,
        });
    }
    Ok((members, gold))
}

/// The members `--select greedy|best` picks on dev: one set by `--metric`, or with
/// `--per-task` each task's by its course score, judged on that task's predictions alone.
fn select_plan(args: &EnsembleArgs, covers: &[Vec<CourseTask>], members: &[Member], gold: &GoldLabels) -> Result<Plan> {
    let select = |candidates: Vec<usize>, task: Option<CourseTask>, metric: Metric| -> Result<Choice> {
        if candidates.is_empty() {
            return Ok(Choice::equal(candidates));
        }
        let score = |o: &TaskOutputs| gold.score(o).get(metric);
        let projected: Vec<TaskOutputs> = task.map_or_else(Vec::new, |t| {
            candidates.iter().map(|&i| members[i].dev.task_only(t)).collect()
        });
        let outputs: Vec<&TaskOutputs> = if task.is_some() {
            projected.iter().collect()
        } else {
            candidates.iter().map(|&i| &members[i].dev).collect()
        };
        let chosen = if args.select == Select::Greedy {
            greedy_select(&outputs, score)?
        } else {
            best_subset_select(&outputs, score)?
        };
        Ok(Choice::equal(chosen.into_iter().map(|k| candidates[k]).collect()))
    };
    if args.per_task {
        Plan::per_task(|task| select(covering(covers, task), Some(task), Metric::course(task)))
    } else {
        Ok(Plan::same(select((0..members.len()).collect(), None, args.metric)?))
    }
}

/// The members' and the ensemble's scores as a table, then who is in the ensemble.
fn print_scores(members: &[Member], plan: &Plan, scores: &Scores) {
    println!(
        "{:<32} {:>7} {:>9} {:>11} {:>8}",
        "model", "sst_acc", "quora_acc", "sts_pearson", "overall"
    );
    let row = |name: &str, s: &Scores| {
        println!(
            "{name:<32} {:>7} {:>9} {:>11} {:>8}",
            fmt_score(s.sst_acc),
            fmt_score(s.quora_acc),
            fmt_score(s.sts_pearson),
            fmt_score(s.overall)
        )
    };
    for m in members {
        row(&m.name, &m.scores);
    }
    row(&format!("ensemble of {}", plan.members().len()), scores);
    let describe = |c: &Choice| {
        c.members
            .iter()
            .zip(&c.weights)
            .map(|(&i, w)| format!("{} ({w:.3})", members[i].name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match plan.uniform() {
        Some(choice) => println!("members (weight): {}", describe(choice)),
        None => {
            for (task, choice) in plan.tasks() {
                if choice.members.is_empty() {
                    println!("{task} members: none (no checkpoint covers {task})");
                } else {
                    println!("{task} members (weight): {}", describe(choice));
                }
            }
        }
    }
}

/// The ensemble's prediction files of `--split`: the dev outputs at hand, or for another split
/// the chosen members run over it.
fn write_predictions(
    out_dir: &Path,
    args: &EnsembleArgs,
    scorer: &Scorer,
    plan: &Plan,
    dev: TaskOutputs,
) -> Result<()> {
    let split = args.split.split();
    let outputs = if split == minbert_data::Split::Dev {
        dev
    } else {
        let mut predicted = BTreeMap::new();
        for i in plan.members() {
            let dir = &args.checkpoints[i];
            let checkpoint = scorer.load(dir)?;
            let (splits, missing) = scorer.read_splits(&checkpoint, split, 0, true)?;
            if predicted.is_empty() {
                warn_missing(split, &missing);
            }
            let label = format!("{} {}", dir.display(), split.name());
            predicted.insert(i, scorer.outputs(&checkpoint, &splits, &label));
        }
        plan.apply(|i| &predicted[&i])?
    };
    check_out_dir(args)?;
    for path in write_outputs(out_dir, split.name(), &outputs)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `--json`: the members' scores, how the ensemble was chosen, and its plan (which `--plan`
/// reads back) and scores. Checkpoint paths are relative to the file.
fn write_summary(path: &Path, args: &EnsembleArgs, members: &[Member], plan: &Plan, scores: &Scores) -> Result<()> {
    let named = relative_to_file(&args.checkpoints, path)?;
    let value = json!({
        "metric": args.metric,
        "select": select_name(args.select),
        "members": members.iter().zip(&named).map(|(m, dir)| json!({"checkpoint": dir, "scores": m.scores})).collect::<Vec<_>>(),
        "per_task": args.per_task,
        "plan": args.plan,
        "subset": args.subset,
        "ensemble": {
            "checkpoints": plan.members().iter().map(|&i| &named[i]).collect::<Vec<_>>(),
            // The same for every task unless --per-task chose differently; then see "tasks".
            "weights": plan.uniform().map(|c| &c.weights),
            "tasks": plan.tasks().map(|(task, c)| (task.name().to_string(), json!({
                "checkpoints": c.members.iter().map(|&i| &named[i]).collect::<Vec<_>>(),
                "weights": c.weights,
            }))).into_iter().collect::<serde_json::Map<_, _>>(),
            "scores": scores,
        },
    });
    Ok(write_json(path, &value)?)
}

fn relative_to_file(dirs: &[PathBuf], file: &Path) -> Result<Vec<PathBuf>> {
    let folder = parent_folder(file);
    std::fs::create_dir_all(folder).with_context(|| format!("--json {}: cannot create its folder", file.display()))?;
    let folder = folder
        .canonicalize()
        .with_context(|| format!("--json {}", file.display()))?;
    dirs.iter()
        .map(|dir| {
            let dir = dir
                .canonicalize()
                .with_context(|| format!("checkpoint {}", dir.display()))?;
            Ok(pathdiff::diff_paths(&dir, &folder).unwrap_or(dir))
        })
        .collect()
}

/// The checkpoints (in order of first appearance) and each task's members of a `--json` file
/// that `minbert ensemble` wrote; its checkpoint paths are relative to it.
fn read_plan(path: &Path) -> Result<(Vec<PathBuf>, Plan)> {
    let folder = parent_folder(path);
    let text = std::fs::read_to_string(path).with_context(|| format!("--plan {}: cannot read it", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("--plan {}: not JSON", path.display()))?;
    let mut checkpoints: Vec<PathBuf> = Vec::new();
    let mut choice = |task: &str| -> Result<Choice> {
        let key = format!("ensemble.tasks.{task}");
        let entry = &value["ensemble"]["tasks"][task];
        let bad = |field: &str, expected: &str| {
            anyhow::anyhow!(
                "--plan {}: {key}.{field} is missing or not {expected}; expected the --json file of `minbert ensemble`",
                path.display()
            )
        };
        let list = |field: &str, expected: &str| entry[field].as_array().ok_or_else(|| bad(field, expected));
        let dirs: Vec<PathBuf> = list("checkpoints", "a list of paths")?
            .iter()
            .map(|d| {
                d.as_str()
                    .map(|d| folder.join(d))
                    .ok_or_else(|| bad("checkpoints", "a list of paths"))
            })
            .collect::<Result<_>>()?;
        let weights: Vec<f64> = list("weights", "a list of numbers")?
            .iter()
            .map(|w| w.as_f64().ok_or_else(|| bad("weights", "a list of numbers")))
            .collect::<Result<_>>()?;
        if weights.len() != dirs.len() {
            bail!(
                "--plan {}: {key} has {} checkpoints but {} weights",
                path.display(),
                dirs.len(),
                weights.len()
            );
        }
        let members = dirs
            .into_iter()
            .map(|dir| match checkpoints.iter().position(|c| *c == dir) {
                Some(i) => i,
                None => {
                    checkpoints.push(dir);
                    checkpoints.len() - 1
                }
            })
            .collect();
        Ok(Choice { members, weights })
    };
    let plan = Plan {
        sst: choice("sst")?,
        para: choice("para")?,
        sts: choice("sts")?,
    };
    if checkpoints.is_empty() {
        bail!("--plan {}: no task has members", path.display());
    }
    Ok((checkpoints, plan))
}

/// The members (indices into `--checkpoint`) whose weighted average makes one task's predictions
/// (none for a task no member covers).
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    members: Vec<usize>,
    weights: Vec<f64>,
}

impl Choice {
    fn equal(members: Vec<usize>) -> Self {
        let k = members.len();
        Self {
            members,
            weights: vec![1.0 / k as f64; k],
        }
    }
}

/// Each task's members: the same for all tasks, unless chosen `--per-task`.
struct Plan {
    sst: Choice,
    para: Choice,
    sts: Choice,
}

impl Plan {
    fn per_task(choose: impl Fn(CourseTask) -> Result<Choice>) -> Result<Self> {
        Ok(Self {
            sst: choose(CourseTask::Sst)?,
            para: choose(CourseTask::Para)?,
            sts: choose(CourseTask::Sts)?,
        })
    }

    fn same(choice: Choice) -> Self {
        Self {
            sst: choice.clone(),
            para: choice.clone(),
            sts: choice,
        }
    }

    fn tasks(&self) -> [(CourseTask, &Choice); 3] {
        [
            (CourseTask::Sst, &self.sst),
            (CourseTask::Para, &self.para),
            (CourseTask::Sts, &self.sts),
        ]
    }

    fn uniform(&self) -> Option<&Choice> {
        (self.sst == self.para && self.para == self.sts).then_some(&self.sst)
    }

    /// Every member some task uses, in `--checkpoint` order.
    fn members(&self) -> Vec<usize> {
        let used: BTreeSet<usize> = self
            .tasks()
            .iter()
            .flat_map(|(_, c)| c.members.iter().copied())
            .collect();
        used.into_iter().collect()
    }

    /// The ensemble's predictions from the members' (`outputs(i)`: member i's).
    /// A task no member covers has no predictions.
    fn apply<'a>(&self, outputs: impl Fn(usize) -> &'a TaskOutputs) -> Result<TaskOutputs> {
        let average_of = |c: &Choice, task: CourseTask| {
            if c.members.is_empty() {
                return Ok(TaskOutputs::default());
            }
            let members: Vec<TaskOutputs> = c.members.iter().map(|&i| outputs(i).task_only(task)).collect();
            average(&members.iter().collect::<Vec<_>>(), Some(&c.weights))
        };
        Ok(merge_tasks(
            average_of(&self.sst, CourseTask::Sst)?,
            average_of(&self.para, CourseTask::Para)?,
            average_of(&self.sts, CourseTask::Sts)?,
        ))
    }
}
