//! `minbert ensemble` as a library call: the members scored on dev, their plan (recorded, given
//! by weights, or selected on dev), the ensemble's scores, its predictions of a split and the
//! `--json` report that a later `--plan` reads back.

use std::path::{Path, PathBuf};

use minbert_data::{CourseTask, Split};
use minbert_task::checkpoint::read_meta;
use minbert_task::files::{parent_folder, write_json};
use serde_json::json;

use crate::ensemble::plan::{self, Choice, Plan};
use crate::ensemble::{MAX_EXHAUSTIVE_MEMBERS, TaskOutputs, best_subset_select, greedy_select, normalise_weights};
use crate::evaluate::Predictions;
use crate::metrics::fmt_score;
use crate::outputs::{GoldLabels, TaskSplit};
use crate::scoring::{Scorer, ScoringOptions, print_notes, warn_missing};
use crate::{EvalError, Metric, Scores};

/// Which members to combine: all; `Greedy`, a forward selection on dev (the best member, then
/// the one that raises the metric most, while it rises); or `Best`, the best subset on dev.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Selection {
    All,
    Greedy,
    /// Every non-empty subset tried; the one with the highest --metric on dev.
    Best,
}

impl Selection {
    /// The name `--select` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Greedy => "greedy",
            Self::Best => "best",
        }
    }
}

/// Where the members come from.
#[derive(Debug, Clone)]
pub enum MemberSource {
    /// These checkpoint directories.
    Checkpoints(Vec<PathBuf>),
    /// The members and weights per task that an earlier `--json` file recorded.
    Plan(PathBuf),
}

/// What `minbert ensemble` is asked for.
#[derive(Debug, Clone)]
pub struct EnsembleOptions {
    pub members: MemberSource,
    /// Weights of the members, in checkpoint order (normalised); `None`: equal.
    pub weights: Option<Vec<f64>>,
    pub selection: Selection,
    /// The dev score that selection maximises.
    pub metric: Metric,
    /// Select each task's members on its own, by its course score.
    pub per_task: bool,
    /// Score on a seeded sample of this many dev examples per task (0: all).
    pub subset: usize,
}

/// Checked options, with the members' checkpoints known (read from the plan where given).
#[derive(Debug, Clone)]
pub struct Ensembler {
    options: EnsembleOptions,
    checkpoints: Vec<PathBuf>,
    recorded: Option<(PathBuf, Plan)>,
}

/// One member's dev scores.
#[derive(Debug, Clone)]
pub struct MemberScores {
    pub checkpoint: PathBuf,
    pub scores: Scores,
}

/// The ensemble chosen and scored on dev.
pub struct Ensemble {
    ensembler: Ensembler,
    scorer: Scorer,
    /// The members' dev scores, in checkpoint order.
    pub members: Vec<MemberScores>,
    /// Each task's members and weights.
    pub plan: Plan,
    /// The ensemble's dev scores.
    pub scores: Scores,
    dev: TaskOutputs,
}

impl Ensembler {
    /// Reads the plan, if one is given, and refuses options that exclude or need each other.
    pub fn new(options: EnsembleOptions) -> Result<Self, EvalError> {
        let (checkpoints, recorded) = match &options.members {
            MemberSource::Checkpoints(dirs) => (dirs.clone(), None),
            MemberSource::Plan(path) => {
                let (checkpoints, plan) = plan::read(path)?;
                (checkpoints, Some((path.clone(), plan)))
            }
        };
        let ensembler = Self {
            options,
            checkpoints,
            recorded,
        };
        ensembler.check()?;
        Ok(ensembler)
    }

    /// The members' checkpoint directories.
    pub fn checkpoints(&self) -> &[PathBuf] {
        &self.checkpoints
    }

    fn check(&self) -> Result<(), EvalError> {
        let (n, selection) = (self.checkpoints.len(), self.options.selection);
        if let Some(weights) = &self.options.weights {
            if weights.len() != n {
                return Err(EvalError::WeightCount {
                    weights: weights.len(),
                    checkpoints: n,
                });
            }
            if selection != Selection::All {
                return Err(EvalError::WeightsWithSelection {
                    selection: selection.name(),
                });
            }
            normalise_weights(weights).map_err(|e| EvalError::Weights { reason: Box::new(e) })?;
        }
        if self.options.per_task && selection == Selection::All {
            return Err(EvalError::PerTaskWithoutSelection);
        }
        if selection == Selection::Best && n > MAX_EXHAUSTIVE_MEMBERS {
            return Err(EvalError::TooManyForBest { checkpoints: n });
        }
        Ok(())
    }

    /// Scores the members on dev, then combines them by the plan (recorded, by weights, or
    /// selected on dev) and scores the ensemble.
    pub fn run(self, scoring: ScoringOptions) -> Result<Ensemble, EvalError> {
        // Which tasks each member answers; checked before the slow part. Members may differ
        // (task specialists): each task is then averaged over the members that cover it.
        let covers = self.read_covers()?;
        if let Some((path, plan)) = &self.recorded {
            plan.check(path, &covers, &self.checkpoints)?;
        }
        // Without selection the plan needs no outputs: bad weights fail before the slow part.
        let fixed_plan = match &self.recorded {
            Some((_, plan)) => Some(plan.clone()),
            None => self.unselected_plan(&covers)?,
        };
        let scorer = Scorer::new(scoring)?;
        let (members, gold) = self.score_members(&scorer)?;
        let plan = match fixed_plan {
            Some(plan) => plan,
            None => self.select_plan(&covers, &members, &gold)?,
        };
        let dev = plan.apply(|i| &members[i].1)?;
        Ok(Ensemble {
            scores: gold.score(&dev),
            members: members.into_iter().map(|(m, _)| m).collect(),
            ensembler: self,
            scorer,
            plan,
            dev,
        })
    }

    /// The tasks each member covers (from its `meta.json`); members that differ need
    /// `--per-task` to be selected.
    fn read_covers(&self) -> Result<Vec<Vec<CourseTask>>, EvalError> {
        let covers: Vec<Vec<CourseTask>> = self
            .checkpoints
            .iter()
            .map(|dir| Ok(read_meta(dir)?.tasks))
            .collect::<Result<_, EvalError>>()?;
        if let Some(i) = covers.iter().position(|tasks| *tasks != covers[0])
            && self.options.selection != Selection::All
            && !self.options.per_task
        {
            let names = |tasks: &[CourseTask]| tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ");
            return Err(EvalError::DifferentTasks {
                member: self.checkpoints[i].clone(),
                tasks: names(&covers[i]),
                first: self.checkpoints[0].clone(),
                first_tasks: names(&covers[0]),
                selection: self.options.selection.name(),
            });
        }
        Ok(covers)
    }

    /// The plan of `--select all`: every member that covers a task, with the weights given or
    /// equal weights; `None` when the plan is selected on dev.
    fn unselected_plan(&self, covers: &[Vec<CourseTask>]) -> Result<Option<Plan>, EvalError> {
        if self.options.selection != Selection::All {
            return Ok(None);
        }
        let plan = Plan::per_task(|task| -> Result<Choice, EvalError> {
            let members = covering(covers, task);
            let Some(w) = &self.options.weights else {
                return Ok(Choice::equal(members));
            };
            let weights: Vec<f64> = members.iter().map(|&i| w[i]).collect();
            if members.is_empty() {
                return Ok(Choice { members, weights });
            }
            let weights = normalise_weights(&weights).map_err(|e| EvalError::TaskWeights {
                task,
                reason: Box::new(e),
            })?;
            Ok(Choice { members, weights })
        })?;
        Ok(Some(plan))
    }

    /// Every member's dev scores and outputs; each task's gold labels come from the first
    /// member that covers it.
    fn score_members(&self, scorer: &Scorer) -> Result<(Vec<(MemberScores, TaskOutputs)>, GoldLabels), EvalError> {
        let mut gold = GoldLabels::default();
        let mut gold_tasks: Vec<CourseTask> = Vec::new();
        let mut members = Vec::with_capacity(self.checkpoints.len());
        for dir in &self.checkpoints {
            let checkpoint = scorer.load(dir)?;
            let (splits, _) = scorer.read_splits(&checkpoint, Split::Dev, self.options.subset, false)?;
            let new: Vec<&TaskSplit> = splits.iter().filter(|s| !gold_tasks.contains(&s.task)).collect();
            print_notes(new.iter().copied());
            gold.add(new.iter().copied())?;
            gold_tasks.extend(new.iter().map(|s| s.task));
            let dev = scorer.outputs(&checkpoint, &splits, &format!("{} dev", dir.display()));
            let scores = gold.score(&dev);
            let checkpoint = dir.clone();
            members.push((MemberScores { checkpoint, scores }, dev));
        }
        Ok((members, gold))
    }

    /// The members that greedy or best selection picks on dev: one set by the metric, or per
    /// task each task's by its course score, judged on that task's predictions alone.
    fn select_plan(
        &self,
        covers: &[Vec<CourseTask>],
        members: &[(MemberScores, TaskOutputs)],
        gold: &GoldLabels,
    ) -> Result<Plan, EvalError> {
        let select = |candidates: Vec<usize>, task: Option<CourseTask>, metric: Metric| -> Result<Choice, EvalError> {
            if candidates.is_empty() {
                return Ok(Choice::equal(candidates));
            }
            let score = |o: &TaskOutputs| gold.score(o).get(metric);
            let projected: Vec<TaskOutputs> = task.map_or_else(Vec::new, |t| {
                candidates.iter().map(|&i| members[i].1.task_only(t)).collect()
            });
            let outputs: Vec<&TaskOutputs> = if task.is_some() {
                projected.iter().collect()
            } else {
                candidates.iter().map(|&i| &members[i].1).collect()
            };
            let chosen = if self.options.selection == Selection::Greedy {
                greedy_select(&outputs, score)?
            } else {
                best_subset_select(&outputs, score)?
            };
            Ok(Choice::equal(chosen.into_iter().map(|k| candidates[k]).collect()))
        };
        if self.options.per_task {
            Plan::per_task(|task| select(covering(covers, task), Some(task), Metric::course(task)))
        } else {
            Ok(Plan::same(select(
                (0..members.len()).collect(),
                None,
                self.options.metric,
            )?))
        }
    }
}

/// The members (indices) that answer `task`.
fn covering(covers: &[Vec<CourseTask>], task: CourseTask) -> Vec<usize> {
    (0..covers.len()).filter(|&i| covers[i].contains(&task)).collect()
}

impl Ensemble {
    /// The ensemble's predictions of `split`: the dev outputs at hand, or for another split
    /// the members the plan uses run over it.
    pub fn predict(&self, split: Split) -> Result<Predictions, EvalError> {
        if split == Split::Dev {
            let outputs = self.dev.clone();
            return Ok(Predictions { split, outputs });
        }
        let mut predicted = std::collections::BTreeMap::new();
        for i in self.plan.members() {
            let dir = &self.ensembler.checkpoints[i];
            let checkpoint = self.scorer.load(dir)?;
            let (splits, missing) = self.scorer.read_splits(&checkpoint, split, 0, true)?;
            if predicted.is_empty() {
                warn_missing(split, &missing);
            }
            let label = format!("{} {}", dir.display(), split.name());
            predicted.insert(i, self.scorer.outputs(&checkpoint, &splits, &label));
        }
        let outputs = self.plan.apply(|i| &predicted[&i])?;
        Ok(Predictions { split, outputs })
    }

    /// The members' and the ensemble's scores as a table, then who is in the ensemble (each
    /// task's members where the tasks differ).
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<32} {:>7} {:>9} {:>11} {:>8}\n",
            "model", "sst_acc", "quora_acc", "sts_pearson", "overall"
        );
        let row = |name: &str, s: &Scores| {
            format!(
                "{name:<32} {:>7} {:>9} {:>11} {:>8}\n",
                fmt_score(s.sst_acc),
                fmt_score(s.quora_acc),
                fmt_score(s.sts_pearson),
                fmt_score(s.overall)
            )
        };
        let names: Vec<String> = self.members.iter().map(|m| short_name(&m.checkpoint)).collect();
        for (m, name) in self.members.iter().zip(&names) {
            out += &row(name, &m.scores);
        }
        out += &row(&format!("ensemble of {}", self.plan.members().len()), &self.scores);
        let describe = |c: &Choice| {
            let members = c.members.iter().zip(&c.weights);
            let named: Vec<String> = members.map(|(&i, w)| format!("{} ({w:.3})", names[i])).collect();
            named.join(", ")
        };
        match self.plan.uniform() {
            Some(choice) => out += &format!("members (weight): {}\n", describe(choice)),
            None => {
                for (task, choice) in self.plan.tasks() {
                    out += &match choice.members.is_empty() {
                        true => format!("{task} members: none (no checkpoint covers {task})\n"),
                        false => format!("{task} members (weight): {}\n", describe(choice)),
                    };
                }
            }
        }
        out
    }

    /// Writes the `--json` report to `path`: the members' scores, how the ensemble was chosen,
    /// and its plan (which `--plan` reads back) and scores. Checkpoint paths are relative to
    /// the file.
    pub fn write_json(&self, path: &Path) -> Result<(), EvalError> {
        let options = &self.ensembler.options;
        let named = relative_to_file(&self.ensembler.checkpoints, path)?;
        let members = self.members.iter().zip(&named);
        let mut ensemble = self.plan.to_json(&named);
        ensemble["scores"] = json!(self.scores);
        let value = json!({
            "metric": options.metric,
            "select": options.selection.name(),
            "members": members.map(|(m, dir)| json!({"checkpoint": dir, "scores": m.scores})).collect::<Vec<_>>(),
            "per_task": options.per_task,
            "plan": self.ensembler.recorded.as_ref().map(|(path, _)| path),
            "subset": options.subset,
            "ensemble": ensemble,
        });
        Ok(write_json(path, &value)?)
    }
}

/// `dir`'s display name for tables: the run and checkpoint (`runs/x/best` → `x/best`).
fn short_name(dir: &Path) -> String {
    let parts: Vec<String> = dir
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

/// `dirs` relative to the folder of `file` (which is created).
fn relative_to_file(dirs: &[PathBuf], file: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let folder = parent_folder(file);
    std::fs::create_dir_all(folder).map_err(|source| EvalError::JsonFolder {
        path: file.to_path_buf(),
        source,
    })?;
    let folder = folder.canonicalize().map_err(|source| EvalError::JsonPath {
        path: file.to_path_buf(),
        source,
    })?;
    dirs.iter()
        .map(|dir| {
            let canonical = dir.canonicalize().map_err(|source| EvalError::Checkpoint {
                dir: dir.clone(),
                source,
            })?;
            Ok(pathdiff::diff_paths(&canonical, &folder).unwrap_or(canonical))
        })
        .collect()
}
