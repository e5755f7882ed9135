//! An ensemble's plan: each task's members and weights. `minbert ensemble --json` records it
//! (`ensemble.tasks`, checkpoint paths relative to the file) and `--plan` reads it back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use minbert_data::CourseTask;
use minbert_task::files::parent_folder;
use serde_json::json;

use crate::EvalError;
use crate::ensemble::{TaskOutputs, average, merge_tasks, normalise_weights};

/// Why a plan file is refused; each message names the file (and the key).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("--plan {}: cannot read it", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("--plan {}: not JSON", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error(
        "--plan {}: {key}.{field} is missing or not {expected}; expected the --json file of `minbert ensemble`",
        path.display()
    )]
    Field {
        path: PathBuf,
        key: String,
        field: &'static str,
        expected: &'static str,
    },
    #[error("--plan {}: {key} has {checkpoints} checkpoints but {weights} weights", path.display())]
    Lengths {
        path: PathBuf,
        key: String,
        checkpoints: usize,
        weights: usize,
    },
    #[error("--plan {}: no task has members", path.display())]
    Empty { path: PathBuf },
    #[error(
        "--plan {}: {} is a member for {task}, but that checkpoint does not cover {task}",
        path.display(),
        member.display()
    )]
    Uncovered {
        path: PathBuf,
        member: PathBuf,
        task: CourseTask,
    },
    #[error("--plan {}: the weights of {task}: {reason}", path.display())]
    Weights {
        path: PathBuf,
        task: CourseTask,
        reason: Box<EvalError>,
    },
}

/// The members (indices into the ensemble's checkpoints) whose weighted average makes one task's
/// predictions (none for a task no member covers).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub members: Vec<usize>,
    pub weights: Vec<f64>,
}

impl Choice {
    /// `members`, weighed equally.
    pub fn equal(members: Vec<usize>) -> Self {
        let k = members.len();
        Self {
            members,
            weights: vec![1.0 / k as f64; k],
        }
    }
}

/// Each task's members: the same for all tasks, unless chosen per task.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub sst: Choice,
    pub para: Choice,
    pub sts: Choice,
}

impl Plan {
    /// Each task's choice by `choose`.
    pub fn per_task<E>(choose: impl Fn(CourseTask) -> Result<Choice, E>) -> Result<Self, E> {
        Ok(Self {
            sst: choose(CourseTask::Sst)?,
            para: choose(CourseTask::Para)?,
            sts: choose(CourseTask::Sts)?,
        })
    }

    /// One choice for every task.
    pub fn same(choice: Choice) -> Self {
        Self {
            sst: choice.clone(),
            para: choice.clone(),
            sts: choice,
        }
    }

    /// The tasks with their choices, in the course's order.
    pub fn tasks(&self) -> [(CourseTask, &Choice); 3] {
        [
            (CourseTask::Sst, &self.sst),
            (CourseTask::Para, &self.para),
            (CourseTask::Sts, &self.sts),
        ]
    }

    /// The choice of every task, where they are all the same.
    pub fn uniform(&self) -> Option<&Choice> {
        (self.sst == self.para && self.para == self.sts).then_some(&self.sst)
    }

    /// Every member some task uses, in checkpoint order.
    pub fn members(&self) -> Vec<usize> {
        let used: BTreeSet<usize> = self
            .tasks()
            .iter()
            .flat_map(|(_, c)| c.members.iter().copied())
            .collect();
        used.into_iter().collect()
    }

    /// The ensemble's predictions from the members' (`outputs(i)`: member i's).
    /// A task no member covers has no predictions.
    pub fn apply<'a>(&self, outputs: impl Fn(usize) -> &'a TaskOutputs) -> Result<TaskOutputs, EvalError> {
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

    /// The plan as the `ensemble` object of the `--json` file (without its scores), its
    /// members named by `checkpoints` (as the file should name them).
    pub fn to_json(&self, checkpoints: &[PathBuf]) -> serde_json::Value {
        let named = |c: &Choice| c.members.iter().map(|&i| &checkpoints[i]).collect::<Vec<_>>();
        let tasks: serde_json::Map<_, _> = self
            .tasks()
            .into_iter()
            .map(|(task, c)| {
                let entry = json!({"checkpoints": named(c), "weights": c.weights});
                (task.name().to_string(), entry)
            })
            .collect();
        json!({
            "checkpoints": self.members().iter().map(|&i| &checkpoints[i]).collect::<Vec<_>>(),
            // The same for every task unless chosen per task; then see "tasks".
            "weights": self.uniform().map(|c| &c.weights),
            "tasks": tasks,
        })
    }

    /// Refuses a plan read from `path` whose members (`checkpoints`, covering the tasks
    /// `covers`) do not cover the tasks they serve, or whose weights are not weights.
    pub fn check(&self, path: &Path, covers: &[Vec<CourseTask>], checkpoints: &[PathBuf]) -> Result<(), PlanError> {
        for (task, choice) in self.tasks() {
            if let Some(&i) = choice.members.iter().find(|&&i| !covers[i].contains(&task)) {
                return Err(PlanError::Uncovered {
                    path: path.to_path_buf(),
                    member: checkpoints[i].clone(),
                    task,
                });
            }
            if !choice.members.is_empty() {
                normalise_weights(&choice.weights).map_err(|e| PlanError::Weights {
                    path: path.to_path_buf(),
                    task,
                    reason: Box::new(e),
                })?;
            }
        }
        Ok(())
    }
}

/// The checkpoints (in order of first appearance) and the plan of a `--json` file that
/// `minbert ensemble` wrote; its checkpoint paths are relative to it.
pub fn read(path: &Path) -> Result<(Vec<PathBuf>, Plan), PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|source| PlanError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let mut checkpoints: Vec<PathBuf> = Vec::new();
    let mut choice = |task: &str| -> Result<Choice, PlanError> {
        let (dirs, weights) = read_choice(path, &value, task)?;
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
        return Err(PlanError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((checkpoints, plan))
}

/// `ensemble.tasks.<task>` of the plan file `path` (holding `value`): its checkpoints (joined to
/// the file's folder) and weights.
fn read_choice(path: &Path, value: &serde_json::Value, task: &str) -> Result<(Vec<PathBuf>, Vec<f64>), PlanError> {
    let key = format!("ensemble.tasks.{task}");
    let entry = &value["ensemble"]["tasks"][task];
    let bad = |field: &'static str, expected: &'static str| PlanError::Field {
        path: path.to_path_buf(),
        key: key.clone(),
        field,
        expected,
    };
    let list =
        |field: &'static str, expected: &'static str| entry[field].as_array().ok_or_else(|| bad(field, expected));
    let folder = parent_folder(path);
    let paths = "a list of paths";
    let dirs: Vec<PathBuf> = list("checkpoints", paths)?
        .iter()
        .map(|d| {
            d.as_str()
                .map(|d| folder.join(d))
                .ok_or_else(|| bad("checkpoints", paths))
        })
        .collect::<Result<_, _>>()?;
    let numbers = "a list of numbers";
    let weights: Vec<f64> = list("weights", numbers)?
        .iter()
        .map(|w| w.as_f64().ok_or_else(|| bad("weights", numbers)))
        .collect::<Result<_, _>>()?;
    if weights.len() != dirs.len() {
        return Err(PlanError::Lengths {
            path: path.to_path_buf(),
            key,
            checkpoints: dirs.len(),
            weights: weights.len(),
        });
    }
    Ok((dirs, weights))
}
