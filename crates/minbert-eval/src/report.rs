//! Reports on training runs: one row per run directory (config, parameters, time, memory, best
//! dev scores) as a GitHub markdown table, and SVG plots of the training curves and of the dev
//! score against trainable parameters and adapter rank, for `docs/`.
//!
//! A run directory is what `minbert train` writes: `config.toml`, `metrics.jsonl`,
//! `summary.json` (once the run ended), `best/meta.json` and `last/meta.json`. A run that is
//! still going or was killed has no `summary.json`: it is reported from its metrics and
//! checkpoints and marked [`UNFINISHED`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use minbert_task::checkpoint::{META_FILE, ParamCount};
use minbert_task::files::{read_json, write_atomic};
use minbert_task::run::{
    BEST_DIR, CONFIG_FILE, LAST_DIR, METRICS_EXPECTED, METRICS_FILE, MetricsLine, RunConfig, RunSummary, SUMMARY_FILE,
};
use minbert_task::{Metric, Scores, Targets};
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// The status of a run without `summary.json` (still training, paused or killed).
pub const UNFINISHED: &str = "unfinished";

/// One run, as a row of the report. Missing numbers are `None`; scores a run did not evaluate
/// are NaN (`null` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The run directory's name.
    pub name: String,
    pub path: PathBuf,
    /// `heads`, `full`, `lora` or `dora`.
    pub mode: String,
    /// Adapter rank, alpha and targets (`None` for modes without adapters).
    pub r: Option<usize>,
    pub alpha: Option<f64>,
    pub targets: Option<String>,
    pub train_base: bool,
    pub trainable_params: Option<usize>,
    pub total_params: Option<usize>,
    /// Optimizer steps and epochs done (a fraction when the run stopped within an epoch).
    pub steps: usize,
    pub epochs: f64,
    /// Seconds of training (evaluations excluded), and per epoch.
    pub train_s: Option<f64>,
    pub s_per_epoch: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// The best dev evaluation (by the run's `train.select` score).
    pub best: Option<BestScores>,
    /// `completed`, `max_steps`, `early_stop` (from `summary.json`) or [`UNFINISHED`].
    pub status: String,
    /// What the reader had to work around (a torn last line of a killed run, ...).
    pub notes: Vec<String>,
    /// The config's `train.seed` (`None` where the file does not say; the trainer writes it).
    pub seed: Option<u64>,
    /// The config as TOML without its seed: the plots aggregate runs with the same setup.
    #[serde(skip)]
    pub setup: String,
    /// Not part of the table or its JSON rows.
    #[serde(skip)]
    pub curves: Curves,
}

impl RunReport {
    pub fn finished(&self) -> bool {
        self.status != UNFINISHED
    }

    /// A best dev score; NaN when missing.
    pub fn best_score(&self, metric: Metric) -> f64 {
        self.best.as_ref().map_or(f64::NAN, |b| b.scores.get(metric))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BestScores {
    pub step: usize,
    pub epoch: f64,
    pub scores: Scores,
}

/// Points `(step, value)` of a run's training and dev curves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curves {
    /// Training loss per task (`sst`, `para`, `sts`), averaged over each logging window.
    pub train_loss: BTreeMap<String, Vec<(f64, f64)>>,
    /// Dev scores ([`Metric::COURSE`]); NaN scores (tasks not trained) are left out.
    pub dev: BTreeMap<Metric, Vec<(f64, f64)>>,
}

/// The run directories `dir` stands for: itself when it holds `config.toml`, else each of its
/// subdirectories that does (in natural order: `lora-r2` before `lora-r16`), so a study folder
/// can be given whole.
pub fn find_runs(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    if !dir.is_dir() {
        return Err(EvalError::NotARun {
            path: dir.to_path_buf(),
            reason: "no such directory".into(),
        });
    }
    if dir.join(CONFIG_FILE).is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| EvalError::io(dir, e))?;
    let mut runs = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| EvalError::io(dir, e))?.path();
        if path.is_dir() && path.join(CONFIG_FILE).is_file() {
            runs.push(path);
        }
    }
    if runs.is_empty() {
        return Err(EvalError::NotARun {
            path: dir.to_path_buf(),
            reason: format!("no {CONFIG_FILE}, and no subdirectory with one"),
        });
    }
    runs.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(runs)
}

/// Orders text with runs of digits compared as numbers (`r2` < `r16`), the rest as text.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let chunks = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, run)) if *d == digit => run.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out
    };
    let key = |(digit, run): &(bool, String)| {
        // Numbers compare by length without leading zeros, then digit by digit.
        let trimmed = if *digit {
            run.trim_start_matches('0')
        } else {
            run.as_str()
        };
        (!*digit, trimmed.len() * usize::from(*digit), trimmed.to_string())
    };
    let (a, b) = (chunks(a), chunks(b));
    a.iter().map(key).cmp(b.iter().map(key)).then_with(|| a.cmp(&b))
}

/// Reads one run directory.
pub fn read_run(dir: &Path) -> Result<RunReport, EvalError> {
    for file in [CONFIG_FILE, METRICS_FILE] {
        if !dir.join(file).is_file() {
            return Err(EvalError::NotARun {
                path: dir.to_path_buf(),
                reason: format!("no {file}"),
            });
        }
    }
    let (config, seed, setup) = read_run_config(&dir.join(CONFIG_FILE))?;
    let mut notes = Vec::new();
    let metrics = read_metrics(&dir.join(METRICS_FILE), &mut notes)?;
    let summary_path = dir.join(SUMMARY_FILE);
    let summary: Option<RunSummary> = summary_path.is_file().then(|| read_json(&summary_path)).transpose()?;
    let meta = read_meta(dir)?;

    let adapter = &config.adapter;
    let has_adapters = adapter.mode.has_adapters();
    let params = summary.as_ref().map(|s| s.params).or(meta.as_ref().map(|m| m.params));
    let (steps, epochs, train_s) = progress(summary.as_ref(), meta.as_ref(), &metrics);
    let best = match &summary {
        Some(s) => s.best.as_ref().map(|b| BestScores {
            step: b.step,
            epoch: b.epoch,
            scores: b.scores,
        }),
        None => best_from_metrics(&metrics, config.train.select),
    };
    Ok(RunReport {
        name: dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned()),
        path: dir.to_path_buf(),
        mode: adapter.mode.name().to_string(),
        r: has_adapters.then_some(adapter.r),
        alpha: has_adapters.then_some(adapter.alpha),
        targets: has_adapters.then(|| targets_name(&adapter.targets)),
        train_base: adapter.train_base,
        trainable_params: params.map(|p| p.trainable),
        total_params: params.map(|p| p.total),
        steps,
        epochs,
        train_s,
        s_per_epoch: train_s.filter(|_| epochs > 0.0).map(|t| t / epochs),
        peak_rss_mib: summary.as_ref().and_then(|s| s.peak_rss_mib),
        best,
        status: summary
            .as_ref()
            .map_or_else(|| UNFINISHED.to_string(), |s| s.status.clone()),
        notes,
        seed,
        setup,
        curves: curves(&metrics),
    })
}

/// Reads each directory of `dirs` (runs, or folders of runs; see [`find_runs`]).
pub fn read_runs(dirs: &[PathBuf]) -> Result<Vec<RunReport>, EvalError> {
    let mut reports = Vec::new();
    for dir in dirs {
        for run in find_runs(dir)? {
            reports.push(read_run(&run)?);
        }
    }
    Ok(reports)
}

fn targets_name(targets: &Targets) -> String {
    match targets {
        Targets::Attn => "attn".into(),
        Targets::AttnOut => "attn-out".into(),
        Targets::AllLinear => "all-linear".into(),
        Targets::Modules(list) => list.join(","),
    }
}

// ---------------------------------------------------------------------------------------------
// metrics.jsonl, summary.json, meta.json

/// Parses `metrics.jsonl`, naming the line of any malformed entry. One exception: an unparsable
/// last line without its newline is what a run killed mid-write leaves; it is skipped (with a
/// note), as the trainer itself drops it on `--resume`.
fn read_metrics(path: &Path, notes: &mut Vec<String>) -> Result<Vec<MetricsLine>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let count = text.lines().count();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<MetricsLine>(line) {
            Ok(parsed) => lines.push(parsed),
            Err(_) if i + 1 == count && !text.ends_with('\n') => {
                notes.push(format!("{}:{}: skipped a torn last line", path.display(), i + 1));
            }
            Err(e) => {
                return Err(EvalError::Metrics {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("{METRICS_EXPECTED}: {e}"),
                });
            }
        }
    }
    Ok(lines)
}

/// A run's `config.toml`: the keys a report reads, the seed, and the rest of the file as TOML
/// (runs whose files differ only in the seed have the same rest, and are plotted as one series).
/// The error names the file and the key.
fn read_run_config(path: &Path) -> Result<(RunConfig, Option<u64>, String), EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let error = |message: String| EvalError::RunConfig {
        path: path.to_path_buf(),
        message,
    };
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
    let config = RunConfig::deserialize(table.clone()).map_err(|e| error(e.to_string()))?;
    let seed = table
        .get_mut("train")
        .and_then(toml::Value::as_table_mut)
        .and_then(|train| train.remove("seed"))
        .and_then(|seed| seed.as_integer())
        .and_then(|seed| u64::try_from(seed).ok());
    let setup = toml::to_string(&table).expect("a parsed table serializes");
    Ok((config, seed, setup))
}

/// The part of a checkpoint's `meta.json` a report needs (the rest is not parsed, so a report
/// does not depend on the model spec's format).
#[derive(Debug, Clone, Deserialize)]
struct MetaCounts {
    params: ParamCount,
    step: usize,
    epoch: usize,
}

/// `last/meta.json` (the latest checkpoint), else `best/meta.json`, else none.
fn read_meta(dir: &Path) -> Result<Option<MetaCounts>, EvalError> {
    for checkpoint in [LAST_DIR, BEST_DIR] {
        let path = dir.join(checkpoint).join(META_FILE);
        if path.is_file() {
            return Ok(Some(read_json(&path)?));
        }
    }
    Ok(None)
}

/// Steps, epochs (fractional) and seconds of training. A finished run's summary has the
/// training time; the epochs come from the metrics where they are finer (a run that stopped
/// within an epoch). An unfinished run has no summary: its training time is estimated from its
/// last metrics line as wall time minus the evaluations logged up to it.
fn progress(
    summary: Option<&RunSummary>,
    meta: Option<&MetaCounts>,
    metrics: &[MetricsLine],
) -> (usize, f64, Option<f64>) {
    let last = metrics
        .iter()
        .filter_map(MetricsLine::position)
        .max_by(|a, b| a.0.cmp(&b.0).then(a.2.total_cmp(&b.2)));
    let logged_epochs = last.map_or(0.0, |(_, epoch, _)| epoch);
    if let Some(s) = summary {
        return (s.steps, logged_epochs.max(s.epochs as f64), Some(s.train_s));
    }
    let meta_steps = meta.map_or(0, |m| m.step);
    let meta_epochs = meta.map_or(0.0, |m| m.epoch as f64);
    let Some((step, epoch, wall_s)) = last else {
        return (meta_steps, meta_epochs, None);
    };
    let eval_s: f64 = metrics
        .iter()
        .filter_map(|m| match *m {
            MetricsLine::Eval { wall_s: at, eval_s, .. } if at <= wall_s => Some(eval_s),
            _ => None,
        })
        .sum();
    (
        step.max(meta_steps),
        epoch.max(meta_epochs),
        Some((wall_s - eval_s).max(0.0)),
    )
}

/// The best evaluation of an unfinished run: the last one the trainer flagged `best` (it then
/// saved `best/`), else the first with the highest finite `select` score.
fn best_from_metrics(metrics: &[MetricsLine], select: Metric) -> Option<BestScores> {
    let evals = || {
        metrics.iter().filter_map(|line| match line {
            MetricsLine::Eval {
                step,
                epoch,
                scores,
                best,
                ..
            } => Some((
                *best,
                BestScores {
                    step: *step,
                    epoch: *epoch,
                    scores: *scores,
                },
            )),
            _ => None,
        })
    };
    if let Some((_, flagged)) = evals().rfind(|(best, _)| *best) {
        return Some(flagged);
    }
    let score = |b: &BestScores| Some(b.scores.get(select)).filter(|v| v.is_finite());
    let mut best: Option<BestScores> = None;
    for (_, candidate) in evals() {
        let better = match &best {
            None => true,
            Some(b) => match (score(&candidate), score(b)) {
                (Some(c), Some(b)) => c > b,
                (Some(_), None) => true,
                _ => false,
            },
        };
        if better {
            best = Some(candidate);
        }
    }
    best
}

fn curves(metrics: &[MetricsLine]) -> Curves {
    let mut curves = Curves::default();
    for line in metrics {
        match line {
            MetricsLine::Train { step, loss, .. } => {
                for (task, value) in loss {
                    if let Some(v) = value.filter(|v| v.is_finite()) {
                        curves
                            .train_loss
                            .entry(task.clone())
                            .or_default()
                            .push((*step as f64, v));
                    }
                }
            }
            MetricsLine::Eval { step, scores, .. } => {
                for metric in Metric::COURSE {
                    let v = scores.get(metric);
                    if v.is_finite() {
                        curves.dev.entry(metric).or_default().push((*step as f64, v));
                    }
                }
            }
            MetricsLine::Other => {}
        }
    }
    curves
}

// ---------------------------------------------------------------------------------------------
// The markdown table

/// Shown for a missing or undefined number.
pub const MISSING: &str = "–";

const HEADER: [&str; 15] = [
    "run",
    "mode",
    "r",
    "alpha",
    "targets",
    "trainable",
    "total",
    "epochs",
    "s/epoch",
    "peak MiB",
    "SST acc",
    "Quora acc",
    "STS r",
    "overall",
    "status",
];

/// A GitHub markdown table, one row per run, in the order given.
pub fn markdown_table(runs: &[RunReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let align: Vec<&str> = HEADER
        .iter()
        .enumerate()
        .map(|(i, _)| if i < 5 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for run in runs {
        let _ = writeln!(out, "| {} |", table_row(run).join(" | "));
    }
    out
}

fn table_row(run: &RunReport) -> Vec<String> {
    let mode = if run.train_base {
        format!("{}+base", run.mode)
    } else {
        run.mode.clone()
    };
    let trainable = match (run.trainable_params, run.total_params) {
        (Some(t), Some(total)) if total > 0 => {
            // Adapters train well under 0.1% of a model: keep a significant digit or two.
            let percent = 100.0 * t as f64 / total as f64;
            let decimals = if percent < 0.1 { 3 } else { 2 };
            format!("{} ({percent:.decimals$}%)", thousands(t))
        }
        (Some(t), _) => thousands(t),
        (None, _) => MISSING.into(),
    };
    let mut row = vec![
        escape_cell(&run.name),
        mode,
        run.r.map_or(MISSING.into(), |r| r.to_string()),
        run.alpha.map_or(MISSING.into(), |a| format!("{a}")),
        run.targets.as_deref().map_or(MISSING.into(), escape_cell),
        trainable,
        run.total_params.map_or(MISSING.into(), thousands),
        number(run.epochs, 2),
        run.s_per_epoch.map_or(MISSING.into(), |s| number(s, 1)),
        run.peak_rss_mib.map_or(MISSING.into(), |m| number(m, 0)),
    ];
    row.extend(Metric::COURSE.map(|metric| number(run.best_score(metric), 4)));
    row.push(if run.finished() {
        run.status.clone()
    } else {
        format!("**{UNFINISHED}** (step {})", run.steps)
    });
    row
}

/// `x` with `decimals` digits, or [`MISSING`] when not finite.
fn number(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        MISSING.into()
    }
}

/// 1234567 as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A pipe would end the cell early.
fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

// ---------------------------------------------------------------------------------------------
// Plots

mod plot;

pub use plot::{Plot, plots};

// ---------------------------------------------------------------------------------------------
// report.md

/// `report.md`: the table, then each plot embedded by its file name (the SVGs sit beside it).
pub fn report_markdown(runs: &[RunReport], plots: &[Plot]) -> String {
    let mut out = String::from("# Training runs\n\n");
    out.push_str(&markdown_table(runs));
    let notes: Vec<&String> = runs.iter().flat_map(|r| &r.notes).collect();
    if runs.iter().any(|r| !r.finished()) {
        out.push_str(&format!(
            "\n**{UNFINISHED}**: no summary.json yet (still training, or stopped); read from metrics.jsonl and last/meta.json, without peak memory.\n"
        ));
    }
    for note in notes {
        out.push_str(&format!("\nNote: {note}\n"));
    }
    for plot in plots {
        out.push_str(&format!("\n![{}]({})\n", plot.title, plot.file_name));
    }
    out
}

/// Writes `out/report.md` and each plot as SVG and PNG beside it; returns the report's path and
/// how many plots it embeds.
pub fn write_report(out: &Path, runs: &[RunReport]) -> Result<(PathBuf, usize), EvalError> {
    let plots = plots(runs)?;
    for plot in &plots {
        write_atomic(&out.join(plot.file_name), plot.svg.as_bytes())?;
        write_atomic(&out.join(plot.png_file_name()), &plot.png()?)?;
    }
    let report = out.join("report.md");
    write_atomic(&report, report_markdown(runs, &plots).as_bytes())?;
    Ok((report, plots.len()))
}
