//! Per task and split: counts, skipped rows, label distribution, token-length percentiles.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::course::{CourseOptions, CourseTask, DataDir, DataDirOrigin};
use crate::custom::CustomTask;
use crate::error::{DataError, Result};
use crate::example::{Dataset, Label, SkippedRow, Split, TaskKind};
use crate::tokenizer::BertTokenizer;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitStats {
    pub task: String,
    pub split: Split,
    pub path: PathBuf,
    pub note: Option<String>,
    pub examples: usize,
    pub skipped: Vec<SkippedRow>,
    pub labels: LabelStats,
    /// Token lengths of the joint encoding (`[CLS] a [SEP] b [SEP]` for pairs), when a
    /// tokenizer was given.
    pub token_lengths: Option<LengthStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LabelStats {
    /// A test file.
    Unlabelled,
    /// `counts[c]` examples of class `c` (binary: `[0, 1]`).
    Classes { counts: Vec<usize> },
    Scores {
        min: f32,
        max: f32,
        mean: f64,
        bins: Vec<ScoreBin>,
    },
}

/// Examples with a score in `[low, high)`; the last bin also holds `high`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreBin {
    pub low: f32,
    pub high: f32,
    pub count: usize,
}

/// Nearest-rank percentiles of token counts, special tokens included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LengthStats {
    pub p50: usize,
    pub p90: usize,
    pub p99: usize,
    pub max: usize,
    pub mean: f64,
    /// The tokenizer's `max_len`: lengths at it may have been truncated.
    pub max_len: usize,
    pub at_max_len: usize,
}

pub fn label_stats(dataset: &Dataset) -> LabelStats {
    if !dataset.labelled {
        return LabelStats::Unlabelled;
    }
    let labels = dataset.examples.iter().filter_map(|e| e.label);
    match dataset.kind {
        TaskKind::Classification { num_labels } => class_counts(labels, num_labels),
        TaskKind::Binary => class_counts(labels, 2),
        TaskKind::Regression { min, max } => {
            let scores: Vec<f32> = labels.map(|l| l.as_score()).collect();
            score_stats(&scores, min, max)
        }
    }
}

fn class_counts(labels: impl Iterator<Item = Label>, num_labels: usize) -> LabelStats {
    let mut counts = vec![0; num_labels];
    for label in labels {
        if let Some(count) = usize::try_from(label.as_class()).ok().and_then(|c| counts.get_mut(c)) {
            *count += 1;
        }
    }
    LabelStats::Classes { counts }
}

/// Unit-wide bins when the range is a whole number of at most 10 units (STS: [0,1) .. [4,5]),
/// else 10 equal bins.
fn score_stats(scores: &[f32], min: f32, max: f32) -> LabelStats {
    let range = max - min;
    let unit_bins = range.fract() == 0.0 && range <= 10.0;
    let bin_count = if unit_bins { range as usize } else { 10 }.max(1);
    let width = range / bin_count as f32;
    let mut bins: Vec<ScoreBin> = (0..bin_count)
        .map(|i| ScoreBin {
            low: min + width * i as f32,
            high: min + width * (i + 1) as f32,
            count: 0,
        })
        .collect();
    for &score in scores {
        let index = (((score - min) / width).floor().max(0.0) as usize).min(bin_count - 1);
        bins[index].count += 1;
    }
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len().max(1) as f64;
    LabelStats::Scores {
        min: scores.iter().copied().fold(f32::INFINITY, f32::min),
        max: scores.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        mean,
        bins,
    }
}

/// Percentiles of `lengths`; `None` when there are none.
pub fn length_stats(lengths: &[usize], max_len: usize) -> Option<LengthStats> {
    let mut sorted = lengths.to_vec();
    sorted.sort_unstable();
    let percentile = |p: usize| sorted[(p * sorted.len()).div_ceil(100).max(1) - 1];
    let max = *sorted.last()?;
    Some(LengthStats {
        p50: percentile(50),
        p90: percentile(90),
        p99: percentile(99),
        max,
        mean: sorted.iter().sum::<usize>() as f64 / sorted.len() as f64,
        max_len,
        at_max_len: sorted.iter().filter(|&&l| l >= max_len).count(),
    })
}

pub fn split_stats(dataset: &Dataset, split: Split, tokenizer: Option<&BertTokenizer>) -> Result<SplitStats> {
    let token_lengths = match tokenizer {
        None => None,
        Some(tokenizer) => {
            let lengths = dataset
                .examples
                .iter()
                .map(|e| {
                    tokenizer
                        .encode(&e.text, e.text_pair.as_deref())
                        .map(|enc| enc.len())
                        .map_err(|source| DataError::Tokenize {
                            path: dataset.path.clone(),
                            line: e.line,
                            id: e.id.clone(),
                            source,
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            length_stats(&lengths, tokenizer.max_len())
        }
    };
    Ok(SplitStats {
        task: dataset.task.clone(),
        split,
        path: dataset.path.clone(),
        note: dataset.note.clone(),
        examples: dataset.len(),
        skipped: dataset.skipped.clone(),
        labels: label_stats(dataset),
        token_lengths,
    })
}

/// A split that could not be read because its file is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingSplit {
    pub task: String,
    pub split: Split,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataStats {
    pub data_dir: PathBuf,
    pub data_dir_origin: DataDirOrigin,
    pub splits: Vec<SplitStats>,
    pub missing: Vec<MissingSplit>,
}

/// Statistics of every course split in `dir` and of the `custom` tasks' splits. Missing files
/// are listed in [`DataStats::missing`]; any other error stops.
pub fn data_stats(
    dir: &DataDir,
    options: &CourseOptions,
    custom: &[CustomTask],
    tokenizer: Option<&BertTokenizer>,
) -> Result<DataStats> {
    let mut stats = DataStats {
        data_dir: dir.path().to_path_buf(),
        data_dir_origin: dir.origin(),
        splits: Vec::new(),
        missing: Vec::new(),
    };
    let course = CourseTask::ALL
        .iter()
        .flat_map(|&task| Split::ALL.map(|split| (task.name().to_string(), split, dir.read(task, split, options))));
    let custom = custom.iter().flat_map(|task| {
        task.splits()
            .into_iter()
            .map(move |split| (task.name().to_string(), split, task.read(split)))
    });
    for (task, split, read) in course.chain(custom) {
        match read {
            Ok(dataset) => stats.splits.push(split_stats(&dataset, split, tokenizer)?),
            Err(error @ DataError::MissingFile { .. }) => stats.missing.push(MissingSplit {
                task,
                split,
                message: error.to_string(),
            }),
            Err(error) => return Err(error),
        }
    }
    Ok(stats)
}

/// The table `minbert data stats` prints: a row per split, then the notes, the skipped rows and
/// the missing splits.
impl fmt::Display for DataStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "data dir {} ({})",
            self.data_dir.display(),
            self.data_dir_origin.describe()
        )?;
        writeln!(
            f,
            "{:<6} {:<5} {:>8} {:>7}  {:<22}  {:<40}  labels",
            "task", "split", "examples", "skipped", "tokens p50/p90/p99/max", "file"
        )?;
        for split in &self.splits {
            let file = split.path.strip_prefix(&self.data_dir).unwrap_or(&split.path);
            let lengths = (split.token_lengths.as_ref())
                .map_or("-".into(), |l| format!("{}/{}/{}/{}", l.p50, l.p90, l.p99, l.max));
            writeln!(
                f,
                "{:<6} {:<5} {:>8} {:>7}  {lengths:<22}  {:<40}  {}",
                split.task,
                split.split.name(),
                split.examples,
                split.skipped.len(),
                file.display(),
                split.labels
            )?;
        }
        for split in &self.splits {
            if let Some(note) = &split.note {
                writeln!(f, "note: {} {}: {note}", split.task, split.split)?;
            }
            for skipped in &split.skipped {
                writeln!(f, "skipped {skipped}")?;
            }
        }
        for missing in &self.missing {
            writeln!(f, "missing: {} {}: {}", missing.task, missing.split, missing.message)?;
        }
        Ok(())
    }
}

/// `class:count ...` for classes, `mean m; low-high:count ...` for scores.
impl fmt::Display for LabelStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelStats::Unlabelled => write!(f, "(no labels)"),
            LabelStats::Classes { counts } => {
                let counts: Vec<String> = (counts.iter().enumerate())
                    .map(|(class, count)| format!("{class}:{count}"))
                    .collect();
                write!(f, "{}", counts.join(" "))
            }
            LabelStats::Scores { mean, bins, .. } => {
                let bins: Vec<String> = bins
                    .iter()
                    .map(|b| format!("{}-{}:{}", b.low, b.high, b.count))
                    .collect();
                write!(f, "mean {mean:.3}; {}", bins.join(" "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let lengths: Vec<usize> = (1..=100).collect();
        let stats = length_stats(&lengths, 100).unwrap();
        assert_eq!(
            (stats.p50, stats.p90, stats.p99, stats.max, stats.at_max_len),
            (50, 90, 99, 100, 1)
        );
        assert_eq!(length_stats(&[7], 512).unwrap().p50, 7);
        assert!(length_stats(&[], 512).is_none());
    }

    #[test]
    fn sts_scores_fall_in_unit_bins_with_five_in_the_last() {
        let LabelStats::Scores { bins, min, max, .. } = score_stats(&[0.0, 0.99, 1.0, 4.2, 5.0], 0.0, 5.0) else {
            panic!("expected scores")
        };
        let counts: Vec<usize> = bins.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![2, 1, 0, 0, 2]);
        assert_eq!((min, max), (0.0, 5.0));
    }
}
