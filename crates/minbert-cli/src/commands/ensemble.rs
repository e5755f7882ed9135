//! `minbert ensemble`: several checkpoints combined by averaging what they predict (SST class
//! probabilities, Quora paraphrase probabilities, STS scores), scored on dev, optionally with
//! the choice of members on dev (greedy or exhaustive) and the course's prediction files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use minbert_eval::Scores;
use minbert_eval::metrics::fmt_score;
use minbert_eval::ensemble::{
    MAX_EXHAUSTIVE_MEMBERS, TaskOutputs, average, best_subset_select, greedy_select, merge_tasks, normalise_weights,
};
use minbert_eval::outputs::GoldLabels;
use minbert_eval::predictions::write_outputs;
use minbert_train::checkpoint::read_meta;
use serde_json::json;

use crate::commands::eval::short_name;
use crate::output::write_json;
use crate::scoring::{ScoringArgs, Scorer, SplitArg, print_notes, warn_missing};

#[derive(Args, Debug)]
pub struct EnsembleArgs {
    /// A member's checkpoint directory (repeat for each member).
    #[arg(long = "checkpoint", value_name = "DIR", required = true)]
    pub checkpoints: Vec<PathBuf>,
    /// Weights of the members, in --checkpoint order (normalised to sum to 1) [default: equal]
    #[arg(long, value_name = "W,W,...", value_delimiter = ',')]
    pub weights: Option<Vec<f64>>,
    /// Which members to combine: all of them; `greedy`, a forward selection on dev (start with
    /// the best member, add the one that raises --metric most, while it rises); or `best`, the
    /// subset with the highest --metric on dev among all subsets (at most 16 members).
    #[arg(long, value_enum, default_value = "all")]
    pub select: Select,
    /// The dev score that `--select greedy` and `--select best` maximise.
    #[arg(long, default_value = "overall")]
    pub metric: String,
    /// Select each task's members on its own: SST's by sst_acc, Quora's by quora_acc and STS's
    /// by sts_pearson (instead of one set of members for all tasks by --metric).
    #[arg(long, conflicts_with = "metric")]
    pub per_task: bool,
    /// Score on a seeded sample of N dev examples per task (as data.dev_subset; 0: all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub subset: usize,
    /// Write the ensemble's prediction files for --split here.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
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

pub fn run(args: EnsembleArgs) -> Result<()> {
    let n = args.checkpoints.len();
    let select_name = args.select.to_possible_value().expect("no skipped variants").get_name().to_string();
    if let Some(weights) = &args.weights {
        if weights.len() != n {
            bail!("--weights: {} weights for {n} checkpoints; give one per --checkpoint", weights.len());
        }
        if args.select != Select::All {
            bail!("--weights and --select {select_name} exclude each other: {select_name} selection weighs the members it picks equally");
        }
        normalise_weights(weights).map_err(|e| anyhow::anyhow!("--weights: {e}"))?;
    }
    if args.per_task && args.select == Select::All {
        bail!("--per-task chooses each task's members on dev: give it with --select greedy or --select best");
    }
    if args.select == Select::Best && n > MAX_EXHAUSTIVE_MEMBERS {
        bail!("--select best: {n} checkpoints, but an exhaustive search takes at most {MAX_EXHAUSTIVE_MEMBERS}; use --select greedy");
    }
    if Scores::compute((&[], &[]), (&[], &[]), (&[], &[])).get(&args.metric).is_none() {
        bail!("--metric {}: not a score; expected overall, sst_acc, sst_macro_f1, quora_acc, quora_f1, sts_pearson or sts_spearman", args.metric);
    }
    // The members must answer the same questions: check before the slow part.
    let first = read_meta(&args.checkpoints[0])?;
    for dir in &args.checkpoints[1..] {
        let meta = read_meta(dir)?;
        if meta.tasks != first.tasks {
            let names = |tasks: &[minbert_data::CourseTask]| tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ");
            bail!(
                "{} covers the tasks [{}] but {} covers [{}]: ensemble members must cover the same tasks",
                dir.display(),
                names(&meta.tasks),
                args.checkpoints[0].display(),
                names(&first.tasks)
            );
        }
    }

    let scorer = Scorer::new(args.scoring)?;
    let predict_split = args.out_dir.as_ref().map(|_| args.split.split()).filter(|s| *s != minbert_data::Split::Dev);
    let mut gold: Option<GoldLabels> = None;
    let mut members = Vec::with_capacity(n);
    for dir in &args.checkpoints {
        let checkpoint = scorer.load(dir)?;
        let (splits, _) = scorer.read_splits(&checkpoint, minbert_data::Split::Dev, args.subset, false)?;
        if gold.is_none() {
            print_notes(&splits);
            gold = Some(GoldLabels::of(&splits)?);
        }
        let dev = scorer.outputs(&checkpoint, &splits, &format!("{} dev", dir.display()));
        let scores = gold.as_ref().expect("set above").score(&dev);
        members.push(Member { name: short_name(dir), dev, scores });
    }
    let gold = gold.expect("at least one checkpoint");

    let dev: Vec<&TaskOutputs> = members.iter().map(|m| &m.dev).collect();
    let select = |metric: &str| -> Result<Choice> {
        let score = |o: &TaskOutputs| gold.score(o).get(metric).expect("checked above");
        // A task the checkpoints do not cover scores NaN for every member: nothing to choose.
        if args.per_task && !dev.iter().any(|o| score(o).is_finite()) {
            return Ok(Choice::equal((0..n).collect()));
        }
        let members = if args.select == Select::Greedy { greedy_select(&dev, score)? } else { best_subset_select(&dev, score)? };
        Ok(Choice::equal(members))
    };
    let plan = match (args.select, &args.weights) {
        (Select::Greedy | Select::Best, _) if args.per_task => {
            Plan { sst: select("sst_acc")?, para: select("quora_acc")?, sts: select("sts_pearson")? }
        }
        (Select::Greedy | Select::Best, _) => Plan::same(select(&args.metric)?),
        (Select::All, Some(w)) => Plan::same(Choice { members: (0..n).collect(), weights: normalise_weights(w)? }),
        (Select::All, None) => Plan::same(Choice::equal((0..n).collect())),
    };
    let ensemble = plan.apply(|i| dev[i])?;
    let scores = gold.score(&ensemble);

    println!("{:<32} {:>7} {:>9} {:>11} {:>8}", "model", "sst_acc", "quora_acc", "sts_pearson", "overall");
    let row = |name: &str, s: &Scores| {
        println!(
            "{name:<32} {:>7} {:>9} {:>11} {:>8}",
            fmt_score(s.sst_acc),
            fmt_score(s.quora_acc),
            fmt_score(s.sts_pearson),
            fmt_score(s.overall)
        )
    };
    for m in &members {
        row(&m.name, &m.scores);
    }
    let chosen = plan.members();
    row(&format!("ensemble of {}", chosen.len()), &scores);
    let describe = |c: &Choice| c.members.iter().zip(&c.weights).map(|(&i, w)| format!("{} ({w:.3})", members[i].name)).collect::<Vec<_>>().join(", ");
    match plan.uniform() {
        Some(choice) => println!("members (weight): {}", describe(choice)),
        None => {
            for (task, choice) in plan.tasks() {
                println!("{task} members (weight): {}", describe(choice));
            }
        }
    }

    if let Some(out_dir) = &args.out_dir {
        let outputs = match predict_split {
            // Only the chosen members run over the prediction split.
            Some(split) => {
                let mut predicted = BTreeMap::new();
                for &i in &chosen {
                    let dir = &args.checkpoints[i];
                    let checkpoint = scorer.load(dir)?;
                    let (splits, missing) = scorer.read_splits(&checkpoint, split, 0, true)?;
                    if predicted.is_empty() {
                        warn_missing(split, &missing);
                    }
                    predicted.insert(i, scorer.outputs(&checkpoint, &splits, &format!("{} {}", dir.display(), split.name())));
                }
                plan.apply(|i| &predicted[&i])?
            }
            None => ensemble,
        };
        for path in write_outputs(out_dir, args.split.split().name(), &outputs)? {
            println!("wrote {}", path.display());
        }
    }
    if let Some(path) = &args.json {
        let value = json!({
            "metric": args.metric,
            "select": select_name,
            "members": members.iter().zip(&args.checkpoints).map(|(m, dir)| json!({"checkpoint": dir, "scores": m.scores})).collect::<Vec<_>>(),
            "per_task": args.per_task,
            "ensemble": {
                "checkpoints": chosen.iter().map(|&i| &args.checkpoints[i]).collect::<Vec<_>>(),
                // The same for every task unless --per-task chose differently; then see "tasks".
                "weights": plan.uniform().map(|c| &c.weights),
                "tasks": plan.tasks().map(|(task, c)| (task.to_string(), json!({
                    "checkpoints": c.members.iter().map(|&i| &args.checkpoints[i]).collect::<Vec<_>>(),
                    "weights": c.weights,
                }))).into_iter().collect::<serde_json::Map<_, _>>(),
                "scores": scores,
            },
        });
        write_json(path, &value)?;
    }
    Ok(())
}

/// The members (indices into `--checkpoint`) whose weighted average makes one task's predictions.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    members: Vec<usize>,
    weights: Vec<f64>,
}

impl Choice {
    fn equal(members: Vec<usize>) -> Self {
        let k = members.len();
        Self { members, weights: vec![1.0 / k as f64; k] }
    }
}

/// Each task's members: the same for all tasks, unless chosen `--per-task`.
struct Plan {
    sst: Choice,
    para: Choice,
    sts: Choice,
}

impl Plan {
    fn same(choice: Choice) -> Self {
        Self { sst: choice.clone(), para: choice.clone(), sts: choice }
    }

    /// By the names of the prediction files' tasks.
    fn tasks(&self) -> [(&'static str, &Choice); 3] {
        [("sst", &self.sst), ("para", &self.para), ("sts", &self.sts)]
    }

    fn uniform(&self) -> Option<&Choice> {
        (self.sst == self.para && self.para == self.sts).then_some(&self.sst)
    }

    /// Every member some task uses, in `--checkpoint` order.
    fn members(&self) -> Vec<usize> {
        let used: BTreeSet<usize> = self.tasks().iter().flat_map(|(_, c)| c.members.iter().copied()).collect();
        used.into_iter().collect()
    }

    /// The ensemble's predictions from the members' (`outputs(i)`: member i's).
    fn apply<'a>(&self, outputs: impl Fn(usize) -> &'a TaskOutputs) -> Result<TaskOutputs> {
        let average_of = |c: &Choice| average(&c.members.iter().map(|&i| outputs(i)).collect::<Vec<_>>(), Some(&c.weights));
        Ok(merge_tasks(average_of(&self.sst)?, average_of(&self.para)?, average_of(&self.sts)?))
    }
}
