//! Combining models: a weighted average of what each member predicts (SST class
//! probabilities, Quora paraphrase probabilities, STS scores), and two ways to choose the
//! members on dev: greedy forward selection (Caruana et al. 2004, without replacement) and an
//! exhaustive search over subsets, for the handful of members a study has.

pub mod combine;
pub mod plan;

use minbert_data::CourseTask;

use crate::EvalError;

/// What one model predicts on one split, aligned by example id. A task the model was not
/// asked about has no ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskOutputs {
    pub sst_ids: Vec<String>,
    /// Softmax over the 5 sentiment classes, one row per SST example.
    pub sst_probs: Vec<[f64; 5]>,
    pub para_ids: Vec<String>,
    /// Sigmoid of the paraphrase logit.
    pub para_probs: Vec<f64>,
    pub sts_ids: Vec<String>,
    /// Predicted similarity on the 0-5 scale.
    pub sts_scores: Vec<f64>,
}

impl TaskOutputs {
    pub fn sst_classes(&self) -> Vec<usize> {
        self.sst_probs
            .iter()
            .map(|p| (0..5).max_by(|&a, &b| p[a].total_cmp(&p[b])).expect("five classes"))
            .collect()
    }

    pub fn para_labels(&self) -> Vec<usize> {
        self.para_probs.iter().map(|&p| usize::from(p > 0.5)).collect()
    }

    /// The predictions of `task` alone (the other tasks empty): what members that also cover
    /// other tasks have in common when one task is averaged.
    pub fn task_only(&self, task: CourseTask) -> TaskOutputs {
        match task {
            CourseTask::Sst => TaskOutputs {
                sst_ids: self.sst_ids.clone(),
                sst_probs: self.sst_probs.clone(),
                ..Default::default()
            },
            CourseTask::Para => TaskOutputs {
                para_ids: self.para_ids.clone(),
                para_probs: self.para_probs.clone(),
                ..Default::default()
            },
            CourseTask::Sts => TaskOutputs {
                sts_ids: self.sts_ids.clone(),
                sts_scores: self.sts_scores.clone(),
                ..Default::default()
            },
        }
    }
}

/// Weights scaled to sum to 1; all must be finite and non-negative, and not all zero.
pub fn normalise_weights(weights: &[f64]) -> Result<Vec<f64>, EvalError> {
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return Err(EvalError::Ensemble(format!(
            "weights must be finite and non-negative, got {weights:?}"
        )));
    }
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return Err(EvalError::Ensemble("the weights sum to 0".into()));
    }
    Ok(weights.iter().map(|w| w / sum).collect())
}

/// The weighted average of `members` (weights normalised; `None` = equal weights). Members
/// must cover the same examples in the same order.
pub fn average(members: &[&TaskOutputs], weights: Option<&[f64]>) -> Result<TaskOutputs, EvalError> {
    let first = *members
        .first()
        .ok_or_else(|| EvalError::Ensemble("no members".into()))?;
    let weights = match weights {
        Some(w) if w.len() != members.len() => {
            return Err(EvalError::Ensemble(format!(
                "{} weights for {} members",
                w.len(),
                members.len()
            )));
        }
        Some(w) => normalise_weights(w)?,
        None => vec![1.0 / members.len() as f64; members.len()],
    };
    for (i, m) in members.iter().enumerate().skip(1) {
        for (task, a, b) in [
            ("SST", &m.sst_ids, &first.sst_ids),
            ("Quora", &m.para_ids, &first.para_ids),
            ("STS", &m.sts_ids, &first.sts_ids),
        ] {
            if a != b {
                return Err(EvalError::Ensemble(format!(
                    "member {} predicts other {task} examples than member 1 ({} vs {})",
                    i + 1,
                    a.len(),
                    b.len()
                )));
            }
        }
    }
    let mut out = TaskOutputs {
        sst_ids: first.sst_ids.clone(),
        sst_probs: vec![[0.0; 5]; first.sst_probs.len()],
        para_ids: first.para_ids.clone(),
        para_probs: vec![0.0; first.para_probs.len()],
        sts_ids: first.sts_ids.clone(),
        sts_scores: vec![0.0; first.sts_scores.len()],
    };
    for (m, w) in members.iter().zip(&weights) {
        for (acc, p) in out.sst_probs.iter_mut().zip(&m.sst_probs) {
            for c in 0..5 {
                acc[c] += w * p[c];
            }
        }
        for (acc, p) in out.para_probs.iter_mut().zip(&m.para_probs) {
            *acc += w * p;
        }
        for (acc, s) in out.sts_scores.iter_mut().zip(&m.sts_scores) {
            *acc += w * s;
        }
    }
    Ok(out)
}

/// One output from three: `sst`'s SST predictions, `para`'s Quora predictions and `sts`'s STS
/// predictions (an ensemble whose members differ by task).
pub fn merge_tasks(sst: TaskOutputs, para: TaskOutputs, sts: TaskOutputs) -> TaskOutputs {
    TaskOutputs {
        sst_ids: sst.sst_ids,
        sst_probs: sst.sst_probs,
        para_ids: para.para_ids,
        para_probs: para.para_probs,
        sts_ids: sts.sts_ids,
        sts_scores: sts.sts_scores,
    }
}

/// `score` of the equally weighted average of the members at `chosen`.
fn subset_score(
    members: &[&TaskOutputs],
    chosen: &[usize],
    score: impl Fn(&TaskOutputs) -> f64,
) -> Result<f64, EvalError> {
    let trial: Vec<&TaskOutputs> = chosen.iter().map(|&i| members[i]).collect();
    Ok(score(&average(&trial, None)?))
}

/// Greedy forward selection: starting from the best single member, add the member that
/// raises `score` most, while it rises. Returns the chosen member indices in order of addition.
pub fn greedy_select(members: &[&TaskOutputs], score: impl Fn(&TaskOutputs) -> f64) -> Result<Vec<usize>, EvalError> {
    let mut chosen: Vec<usize> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    loop {
        let mut round_best: Option<(usize, f64)> = None;
        for candidate in (0..members.len()).filter(|i| !chosen.contains(i)) {
            let trial: Vec<usize> = chosen.iter().copied().chain([candidate]).collect();
            let s = subset_score(members, &trial, &score)?;
            if round_best.is_none_or(|(_, b)| s > b) {
                round_best = Some((candidate, s));
            }
        }
        match round_best {
            Some((i, s)) if s > best => {
                chosen.push(i);
                best = s;
            }
            _ => break,
        }
    }
    if chosen.is_empty() {
        return Err(EvalError::Ensemble("no member gives a finite score".into()));
    }
    Ok(chosen)
}

/// The most members [`best_subset_select`] searches over (2^16 - 1 subsets).
pub const MAX_EXHAUSTIVE_MEMBERS: usize = 16;

/// Exhaustive selection: the equally weighted subset of `members` with the highest `score`,
/// among all non-empty subsets. Greedy selection can miss it (it starts from the best single
/// member, which need not belong to the best pair). On a tie the smaller subset, then the one
/// with the lower indices, wins. Returns the chosen member indices in ascending order.
pub fn best_subset_select(
    members: &[&TaskOutputs],
    score: impl Fn(&TaskOutputs) -> f64,
) -> Result<Vec<usize>, EvalError> {
    if members.len() > MAX_EXHAUSTIVE_MEMBERS {
        return Err(EvalError::Ensemble(format!(
            "{} members: an exhaustive search takes at most {MAX_EXHAUSTIVE_MEMBERS} (2^n subsets); use greedy selection",
            members.len()
        )));
    }
    // Smaller subsets first, then in lexicographic order, so the first of equal scores wins.
    let mut subsets: Vec<Vec<usize>> = (1..1u32 << members.len())
        .map(|mask| (0..members.len()).filter(|i| mask & (1 << i) != 0).collect())
        .collect();
    subsets.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    let mut best: Option<(Vec<usize>, f64)> = None;
    for chosen in subsets {
        let s = subset_score(members, &chosen, &score)?;
        if s.is_finite() && best.as_ref().is_none_or(|(_, b)| s > *b) {
            best = Some((chosen, s));
        }
    }
    best.map(|(chosen, _)| chosen)
        .ok_or_else(|| EvalError::Ensemble("no subset of the members gives a finite score".into()))
}
