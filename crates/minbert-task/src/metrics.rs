//! The course's metrics and the secondary ones researchers report, for the trainer's dev
//! evaluations, ensembles and reports. Undefined values (a
//! Pearson correlation of constant predictions, an F1 with no positive predictions or labels)
//! are NaN, reported as such, never a crash.

use minbert_data::CourseTask;
use serde::{Deserialize, Serialize};

/// A score for tables: four decimals, `-` for NaN (a task not trained or not scored).
pub fn fmt_score(x: f64) -> String {
    if x.is_nan() { "-".into() } else { format!("{x:.4}") }
}

/// Fraction of equal pairs; NaN for no examples.
pub fn accuracy<T: PartialEq>(predicted: &[T], gold: &[T]) -> f64 {
    assert_eq!(predicted.len(), gold.len(), "predictions and labels differ in length");
    if gold.is_empty() {
        return f64::NAN;
    }
    predicted.iter().zip(gold).filter(|(p, g)| p == g).count() as f64 / gold.len() as f64
}

/// F1 of one class treated as positive: 2TP / (2TP + FP + FN); NaN when the class appears in
/// neither predictions nor labels.
pub fn f1_for_class(predicted: &[usize], gold: &[usize], class: usize) -> f64 {
    assert_eq!(predicted.len(), gold.len(), "predictions and labels differ in length");
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (&p, &g) in predicted.iter().zip(gold) {
        match (p == class, g == class) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let denom = 2 * tp + fp + fn_;
    if denom == 0 {
        f64::NAN
    } else {
        2.0 * tp as f64 / denom as f64
    }
}

/// Unweighted mean of the per-class F1 over `0..num_classes`; classes absent from both sides
/// count as 0 (scikit-learn's `zero_division=0` with explicit labels).
pub fn macro_f1(predicted: &[usize], gold: &[usize], num_classes: usize) -> f64 {
    let sum: f64 = (0..num_classes)
        .map(|c| f1_for_class(predicted, gold, c))
        .map(|f| if f.is_nan() { 0.0 } else { f })
        .sum();
    sum / num_classes as f64
}

/// Pearson's r; NaN when either side is constant or there are fewer than two values.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "predictions and labels differ in length");
    let n = x.len() as f64;
    if x.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        f64::NAN
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Ranks from 1, ties sharing their average rank (as scipy's `rankdata`).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) hold ranks start+1..=end: their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's rho: Pearson's r of the average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// The course's overall score: `(sst_acc + quora_acc + (sts_pearson + 1) / 2) / 3`.
pub fn overall(sst_acc: f64, quora_acc: f64, sts_pearson: f64) -> f64 {
    (sst_acc + quora_acc + (sts_pearson + 1.0) / 2.0) / 3.0
}

/// Every dev metric of a multitask model. NaN (written as `null` in JSON) where undefined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    #[serde(deserialize_with = "null_as_nan")]
    pub sst_acc: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub sst_macro_f1: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub quora_acc: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub quora_f1: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub sts_pearson: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub sts_spearman: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub overall: f64,
}

impl Scores {
    /// From SST classes (0-4), Quora labels (0/1) and STS scores, predicted and gold. A task
    /// with no gold labels was not evaluated: its scores are NaN and `overall` averages the
    /// course's three terms over the tasks that were (with all three, the course's formula).
    pub fn compute(sst: (&[usize], &[usize]), quora: (&[usize], &[usize]), sts: (&[f64], &[f64])) -> Self {
        let sst_acc = accuracy(sst.0, sst.1);
        let quora_acc = accuracy(quora.0, quora.1);
        let sts_pearson = pearson(sts.0, sts.1);
        let terms: Vec<f64> = [
            (!sst.1.is_empty()).then_some(sst_acc),
            (!quora.1.is_empty()).then_some(quora_acc),
            (!sts.1.is_empty()).then_some((sts_pearson + 1.0) / 2.0),
        ]
        .into_iter()
        .flatten()
        .collect();
        let overall = if terms.is_empty() {
            f64::NAN
        } else {
            terms.iter().sum::<f64>() / terms.len() as f64
        };
        Self {
            sst_acc,
            sst_macro_f1: if sst.1.is_empty() {
                f64::NAN
            } else {
                macro_f1(sst.0, sst.1, 5)
            },
            quora_acc,
            quora_f1: f1_for_class(quora.0, quora.1, 1),
            sts_pearson,
            sts_spearman: spearman(sts.0, sts.1),
            overall,
        }
    }

    /// One score.
    pub fn get(&self, metric: Metric) -> f64 {
        match metric {
            Metric::SstAcc => self.sst_acc,
            Metric::SstMacroF1 => self.sst_macro_f1,
            Metric::QuoraAcc => self.quora_acc,
            Metric::QuoraF1 => self.quora_f1,
            Metric::StsPearson => self.sts_pearson,
            Metric::StsSpearman => self.sts_spearman,
            Metric::Overall => self.overall,
        }
    }
}

/// A dev score, by the name configs, `metrics.jsonl`, reports and the command line give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", clap(rename_all = "snake_case"))]
pub enum Metric {
    SstAcc,
    SstMacroF1,
    QuoraAcc,
    QuoraF1,
    StsPearson,
    StsSpearman,
    /// The course's overall score.
    #[default]
    Overall,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::SstAcc,
        Metric::SstMacroF1,
        Metric::QuoraAcc,
        Metric::QuoraF1,
        Metric::StsPearson,
        Metric::StsSpearman,
        Metric::Overall,
    ];

    /// The scores a report shows and plots, in column order: the course's three and overall.
    pub const COURSE: [Metric; 4] = [Metric::SstAcc, Metric::QuoraAcc, Metric::StsPearson, Metric::Overall];

    pub fn name(self) -> &'static str {
        match self {
            Metric::SstAcc => "sst_acc",
            Metric::SstMacroF1 => "sst_macro_f1",
            Metric::QuoraAcc => "quora_acc",
            Metric::QuoraF1 => "quora_f1",
            Metric::StsPearson => "sts_pearson",
            Metric::StsSpearman => "sts_spearman",
            Metric::Overall => "overall",
        }
    }

    /// The task a score is computed on; `None` for `overall`.
    pub fn task(self) -> Option<CourseTask> {
        match self {
            Metric::SstAcc | Metric::SstMacroF1 => Some(CourseTask::Sst),
            Metric::QuoraAcc | Metric::QuoraF1 => Some(CourseTask::Para),
            Metric::StsPearson | Metric::StsSpearman => Some(CourseTask::Sts),
            Metric::Overall => None,
        }
    }

    /// The course's score of `task`: SST and Quora accuracy, STS Pearson.
    pub fn course(task: CourseTask) -> Metric {
        match task {
            CourseTask::Sst => Metric::SstAcc,
            CourseTask::Para => Metric::QuoraAcc,
            CourseTask::Sts => Metric::StsPearson,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Metric {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Metric::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            format!("unknown score \"{name}\": expected one of {}", names.join(", "))
        })
    }
}

/// serde_json writes NaN as `null`; read it back as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
