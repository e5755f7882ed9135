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

use minbert_task::checkpoint::{META_FILE, ParamCounts};
use minbert_task::files::read_json;
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
/// subdirectories that does (sorted by name), so a study folder can be given whole.
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
    runs.sort();
    Ok(runs)
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
    let config = read_run_config(&dir.join(CONFIG_FILE))?;
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

/// The part of a run's `config.toml` a report reads; the error names the file and the key.
fn read_run_config(path: &Path) -> Result<RunConfig, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    toml::from_str(&text).map_err(|e| EvalError::RunConfig {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The part of a checkpoint's `meta.json` a report needs (the rest is not parsed, so a report
/// does not depend on the model spec's format).
#[derive(Debug, Clone, Deserialize)]
struct MetaCounts {
    params: ParamCounts,
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

/// One SVG figure of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// `curves.svg`, `dev.svg`, `score-vs-params.svg`, `score-vs-rank.svg`.
    pub file_name: &'static str,
    /// Alt text for the markdown.
    pub title: String,
    pub svg: String,
}

/// The report's plots: training loss per task, dev scores over training, best dev overall
/// against trainable parameters, and against adapter rank when the runs differ in rank. A plot
/// with nothing to show (no run logged any point of it) is left out.
pub fn plots(runs: &[RunReport]) -> Result<Vec<Plot>, EvalError> {
    let mut out = Vec::new();
    let tasks = ordered_keys(
        runs.iter().flat_map(|r| r.curves.train_loss.keys()),
        &["sst", "para", "sts"],
    );
    let loss_panels: Vec<Panel> = tasks
        .iter()
        .map(|task| {
            Panel::lines(&format!("training loss: {task}"), "step", "loss", runs, |r| {
                r.curves.train_loss.get(task)
            })
        })
        .collect();
    push_plot(
        &mut out,
        "curves.svg",
        "training loss per task",
        draw::panels(&loss_panels),
    )?;
    let dev_panels: Vec<Panel> = [Metric::Overall, Metric::SstAcc, Metric::QuoraAcc, Metric::StsPearson]
        .into_iter()
        .filter(|metric| runs.iter().any(|r| r.curves.dev.contains_key(metric)))
        .map(|metric| {
            let name = metric.name();
            Panel::lines(&format!("dev {name}"), "step", name, runs, |r| {
                r.curves.dev.get(&metric)
            })
        })
        .collect();
    push_plot(
        &mut out,
        "dev.svg",
        "dev scores during training",
        draw::panels(&dev_panels),
    )?;
    let by_params = scatter_points(runs, |r| r.trainable_params.map(|p| p as f64));
    push_plot(
        &mut out,
        "score-vs-params.svg",
        "best dev overall against trainable parameters",
        draw::scatter(
            "best dev overall vs trainable parameters",
            "trainable parameters (log)",
            &by_params,
        ),
    )?;
    let ranks: std::collections::BTreeSet<usize> = runs.iter().filter_map(|r| r.r).collect();
    if ranks.len() > 1 {
        let by_rank = scatter_points(runs, |r| r.r.map(|r| r as f64));
        push_plot(
            &mut out,
            "score-vs-rank.svg",
            "best dev overall against adapter rank",
            draw::scatter("best dev overall vs adapter rank", "rank r (log)", &by_rank),
        )?;
    }
    Ok(out)
}

/// Adds a rendered plot (`Ok(None)`: nothing to draw).
fn push_plot(
    out: &mut Vec<Plot>,
    file_name: &'static str,
    title: &str,
    svg: Result<Option<String>, String>,
) -> Result<(), EvalError> {
    match svg {
        Ok(Some(svg)) => out.push(Plot {
            file_name,
            title: title.to_string(),
            svg,
        }),
        Ok(None) => {}
        Err(message) => {
            return Err(EvalError::Plot {
                file: file_name.to_string(),
                message,
            });
        }
    }
    Ok(())
}

/// The keys in `preferred` order first, then any others alphabetically.
fn ordered_keys<'a>(keys: impl Iterator<Item = &'a String>, preferred: &[&str]) -> Vec<String> {
    let all: std::collections::BTreeSet<&String> = keys.collect();
    let mut out: Vec<String> = preferred
        .iter()
        .filter(|p| all.iter().any(|k| k == p))
        .map(|p| p.to_string())
        .collect();
    out.extend(all.into_iter().filter(|k| !preferred.contains(&k.as_str())).cloned());
    out
}

/// One run's line in a panel; `color` is the run's index, so a run has one colour throughout.
struct Line {
    label: String,
    color: usize,
    points: Vec<(f64, f64)>,
}

struct Panel {
    caption: String,
    x_label: String,
    y_label: String,
    lines: Vec<Line>,
}

impl Panel {
    fn lines<'a>(
        caption: &str,
        x_label: &str,
        y_label: &str,
        runs: &'a [RunReport],
        points: impl Fn(&'a RunReport) -> Option<&'a Vec<(f64, f64)>>,
    ) -> Panel {
        let lines = runs
            .iter()
            .enumerate()
            .filter_map(|(i, run)| {
                points(run).filter(|p| !p.is_empty()).map(|p| Line {
                    label: run.name.clone(),
                    color: i,
                    points: p.clone(),
                })
            })
            .collect();
        Panel {
            caption: caption.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            lines,
        }
    }
}

/// A labelled point of a scatter plot.
struct Point {
    label: String,
    color: usize,
    x: f64,
    y: f64,
}

/// Best dev overall against `x` for each run that has both (positive x, for the log axis).
fn scatter_points(runs: &[RunReport], x: impl Fn(&RunReport) -> Option<f64>) -> Vec<Point> {
    runs.iter()
        .enumerate()
        .filter_map(|(i, run)| {
            let (x, y) = (x(run)?, run.best_score(Metric::Overall));
            (x > 0.0 && y.is_finite()).then(|| Point {
                label: run.name.clone(),
                color: i,
                x,
                y,
            })
        })
        .collect()
}

/// Drawing with plotters into SVG strings. Errors are plotters' messages.
mod draw {
    use plotters::coord::Shift;
    use plotters::prelude::*;

    use super::{Panel, Point};

    const PANEL_SIZE: (u32, u32) = (560, 400);
    /// Plotters' default tick and axis-title fonts come out near 10 px in SVG: too small to read
    /// in a docs page.
    const TICK_FONT: (&str, u32) = ("sans-serif", 15);
    const AXIS_FONT: (&str, u32) = ("sans-serif", 17);

    fn color(i: usize) -> RGBColor {
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0, c.1, c.2)
    }

    /// `lo..hi` widened by 5% on each side (and to a unit range around a single value), so
    /// lines and points do not sit on the frame.
    fn padded(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if !lo.is_finite() || !hi.is_finite() {
            return 0.0..1.0;
        }
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            lo.abs().max(1.0) * 0.05
        };
        (lo - pad)..(hi + pad)
    }

    /// The panels side by side in one SVG; `None` when no panel has a line.
    pub(super) fn panels(panels: &[Panel]) -> Result<Option<String>, String> {
        let panels: Vec<&Panel> = panels.iter().filter(|p| !p.lines.is_empty()).collect();
        if panels.is_empty() {
            return Ok(None);
        }
        let mut svg = String::new();
        {
            let size = (PANEL_SIZE.0 * panels.len() as u32, PANEL_SIZE.1);
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(&panels) {
                line_panel(area, panel).map_err(|e| e.to_string())?;
            }
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(Some(svg))
    }

    fn line_panel<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let points = || panel.lines.iter().flat_map(|l| l.points.iter());
        let x_range = padded(points().map(|p| p.0));
        let y_range = padded(points().map(|p| p.1));
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.caption, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, y_range)?;
        chart
            .configure_mesh()
            .label_style(TICK_FONT)
            .axis_desc_style(AXIS_FONT)
            .x_desc(&panel.x_label)
            .y_desc(&panel.y_label)
            .draw()?;
        for line in &panel.lines {
            let c = color(line.color);
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), c.stroke_width(2)))?
                .label(&line.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font(TICK_FONT)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }

    /// Labelled points on a log x axis; `None` when there are no points.
    pub(super) fn scatter(caption: &str, x_label: &str, points: &[Point]) -> Result<Option<String>, String> {
        if points.is_empty() {
            return Ok(None);
        }
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, PANEL_SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            scatter_chart(&root, caption, x_label, points).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(Some(svg))
    }

    fn scatter_chart<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        x_label: &str,
        points: &[Point],
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        // A factor of 2 either side on the log axis leaves room for the labels.
        let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.x), hi.max(p.x))
        });
        let y_range = padded(points.iter().map(|p| p.y));
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((lo / 2.0..hi * 2.0).log_scale(), y_range)?;
        chart
            .configure_mesh()
            .label_style(TICK_FONT)
            .axis_desc_style(AXIS_FONT)
            .x_desc(x_label)
            .y_desc("best dev overall")
            .draw()?;
        chart.draw_series(points.iter().map(|p| {
            let c = color(p.color);
            EmptyElement::at((p.x, p.y))
                + Circle::new((0, 0), 4, c.filled())
                + Text::new(p.label.clone(), (6, -14), ("sans-serif", 15).into_font().color(&c))
        }))?;
        Ok(())
    }
}

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
