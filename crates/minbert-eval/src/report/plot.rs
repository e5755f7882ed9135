//! The report's figures: training loss and dev scores against step, and the best dev overall
//! score against trainable parameters and adapter rank. Drawn as SVG with plotters and
//! rasterised to PNG with resvg, both with the font bundled in this crate.
//!
//! Runs whose configs differ only in their seed are one series: one colour and legend entry in
//! every figure, and one marker (their mean, with min–max bars) in the scatter plots.

mod draw;
mod raster;

use std::collections::BTreeSet;
use std::path::Path;

use super::RunReport;
use crate::EvalError;
use crate::Metric;

/// DejaVu Sans (assets/DejaVuSans-LICENSE): the SVG's text is laid out, and the PNG's drawn,
/// with it.
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// One figure of a report, as SVG; [`Plot::png`] rasterises it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// `curves.svg`, `dev.svg`, `score-vs-params.svg`, `score-vs-rank.svg`.
    pub file_name: &'static str,
    /// Alt text for the markdown.
    pub title: String,
    pub svg: String,
}

impl Plot {
    /// The PNG's file name: the SVG's with a `.png` extension.
    pub fn png_file_name(&self) -> String {
        Path::new(self.file_name).with_extension("png").display().to_string()
    }

    /// The figure as PNG, at twice the SVG's size in pixels, on white.
    pub fn png(&self) -> Result<Vec<u8>, EvalError> {
        raster::png(&self.svg).map_err(|message| EvalError::Plot {
            file: self.png_file_name(),
            message,
        })
    }
}

/// The report's plots: training loss per task, dev scores over training, best dev overall
/// against trainable parameters, and against adapter rank when the runs differ in rank. A plot
/// with nothing to show (no run logged any point of it) is left out.
pub fn plots(runs: &[RunReport]) -> Result<Vec<Plot>, EvalError> {
    draw::register_font().map_err(|message| EvalError::Plot {
        file: "assets/DejaVuSans.ttf (bundled)".into(),
        message,
    })?;
    let series = series(runs);
    let mut out = Vec::new();
    let curves = loss_figure(&series);
    push_plot(&mut out, "curves.svg", "training loss per task", draw::lines(&curves))?;
    let dev = dev_figure(&series);
    push_plot(&mut out, "dev.svg", "dev scores during training", draw::lines(&dev))?;
    let by_params = scatter(
        &series,
        "best dev overall vs trainable parameters",
        "trainable parameters (log)",
        10.0,
        |r| r.trainable_params.map(|p| p as f64),
    );
    push_plot(
        &mut out,
        "score-vs-params.svg",
        "best dev overall against trainable parameters",
        draw::scatter(&by_params),
    )?;
    let ranks: BTreeSet<usize> = runs.iter().filter_map(|r| r.r).collect();
    if ranks.len() > 1 {
        let by_rank = scatter(&series, "best dev overall vs adapter rank", "rank r (log)", 2.0, |r| {
            r.r.map(|r| r as f64)
        });
        push_plot(
            &mut out,
            "score-vs-rank.svg",
            "best dev overall against adapter rank",
            draw::scatter(&by_rank),
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

/// Runs with the same setup (config but seed), in the order of their first run.
struct Series<'a> {
    label: String,
    runs: Vec<&'a RunReport>,
}

fn series(runs: &[RunReport]) -> Vec<Series<'_>> {
    let mut out: Vec<Series> = Vec::new();
    for run in runs {
        match out.iter_mut().find(|s| s.runs[0].setup == run.setup) {
            Some(s) => s.runs.push(run),
            None => out.push(Series {
                label: run.name.clone(),
                runs: vec![run],
            }),
        }
    }
    for s in out.iter_mut().filter(|s| s.runs.len() > 1) {
        s.label = format!("{} ({} runs)", s.label, s.runs.len());
    }
    out
}

/// A legend entry; `style` is the series' index, so a series looks the same in every figure.
struct Entry {
    label: String,
    style: usize,
}

/// One run's curve in a panel, with its smoothed version drawn over it when there is one.
struct Line {
    style: usize,
    raw: Vec<(f64, f64)>,
    smooth: Option<Vec<(f64, f64)>>,
}

struct Panel {
    caption: String,
    x_label: String,
    y_label: String,
    lines: Vec<Line>,
}

/// Panels side by side over one legend of the series they draw, and a note saying how to read
/// them.
struct LineFigure {
    panels: Vec<Panel>,
    legend: Vec<Entry>,
    note: String,
}

/// Logged points either side of a point in the loss curves' moving average.
const SMOOTH_HALF: usize = 4;

fn loss_figure(series: &[Series]) -> LineFigure {
    let runs = || series.iter().flat_map(|s| &s.runs);
    let tasks = ordered_keys(runs().flat_map(|r| r.curves.train_loss.keys()), &["sst", "para", "sts"]);
    let panels: Vec<Panel> = tasks
        .iter()
        .map(|task| Panel {
            caption: format!("training loss: {task}"),
            x_label: "step".into(),
            y_label: "loss".into(),
            lines: lines(series, true, |r| r.curves.train_loss.get(task)),
        })
        .collect();
    let window = 2 * SMOOTH_HALF + 1;
    LineFigure {
        legend: legend(series, &panels),
        panels,
        note: format!(
            "Bold: centred moving average over {window} logged points (fewer at the ends); faint: as logged."
        ),
    }
}

fn dev_figure(series: &[Series]) -> LineFigure {
    let runs = || series.iter().flat_map(|s| &s.runs);
    let scores = [Metric::Overall, Metric::SstAcc, Metric::QuoraAcc, Metric::StsPearson]
        .into_iter()
        .filter(|metric| runs().any(|r| r.curves.dev.contains_key(metric)));
    let panels: Vec<Panel> = scores
        .map(|metric| Panel {
            caption: format!("dev {metric}"),
            x_label: "step".into(),
            y_label: metric.name().into(),
            lines: lines(series, false, |r| r.curves.dev.get(&metric)),
        })
        .collect();
    LineFigure {
        legend: legend(series, &panels),
        panels,
        note: "Dev scores as evaluated during training.".into(),
    }
}

/// Each run's non-empty curve, styled by its series.
fn lines<'a>(
    series: &'a [Series],
    smooth: bool,
    points: impl Fn(&'a RunReport) -> Option<&'a Vec<(f64, f64)>>,
) -> Vec<Line> {
    let mut out = Vec::new();
    for (style, s) in series.iter().enumerate() {
        for run in &s.runs {
            if let Some(p) = points(run).filter(|p| !p.is_empty()) {
                out.push(Line {
                    style,
                    raw: p.clone(),
                    smooth: (smooth && p.len() > 2).then(|| smoothed(p)),
                });
            }
        }
    }
    out
}

/// The series drawn in any panel, in series order.
fn legend(series: &[Series], panels: &[Panel]) -> Vec<Entry> {
    let drawn: BTreeSet<usize> = panels.iter().flat_map(|p| p.lines.iter().map(|l| l.style)).collect();
    drawn
        .into_iter()
        .map(|style| Entry {
            label: series[style].label.clone(),
            style,
        })
        .collect()
}

/// A centred moving average over [`SMOOTH_HALF`] points either side, over those there are
/// near the ends.
fn smoothed(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let n = points.len();
    (0..n)
        .map(|i| {
            let window = &points[i.saturating_sub(SMOOTH_HALF)..(i + SMOOTH_HALF + 1).min(n)];
            let mean = window.iter().map(|p| p.1).sum::<f64>() / window.len() as f64;
            (points[i].0, mean)
        })
        .collect()
}

/// The keys in `preferred` order first, then any others alphabetically.
fn ordered_keys<'a>(keys: impl Iterator<Item = &'a String>, preferred: &[&str]) -> Vec<String> {
    let all: BTreeSet<&String> = keys.collect();
    let mut out: Vec<String> = preferred
        .iter()
        .filter(|p| all.iter().any(|k| k == p))
        .map(|p| p.to_string())
        .collect();
    out.extend(all.into_iter().filter(|k| !preferred.contains(&k.as_str())).cloned());
    out
}

/// A series' best dev overall at one x: the mean over its runs, and their range.
struct Point {
    style: usize,
    x: f64,
    mean: f64,
    min: f64,
    max: f64,
}

/// Best dev overall against a log-scale x (ticks at powers of `base`).
struct ScatterFigure {
    caption: String,
    x_label: String,
    base: f64,
    points: Vec<Point>,
    legend: Vec<Entry>,
    note: String,
}

fn scatter(
    series: &[Series],
    caption: &str,
    x_label: &str,
    base: f64,
    x: impl Fn(&RunReport) -> Option<f64>,
) -> ScatterFigure {
    let points: Vec<Point> = series
        .iter()
        .enumerate()
        .filter_map(|(style, s)| series_point(style, s, &x))
        .collect();
    let legend = points
        .iter()
        .map(|p| Entry {
            label: series[p.style].label.clone(),
            style: p.style,
        })
        .collect();
    let mut note = "Best dev overall score of each run.".to_string();
    if points.iter().any(|p| p.max > p.min) {
        note = "Markers: mean best dev overall over runs whose configs differ at most in the seed; bars: their min to max.".into();
    }
    ScatterFigure {
        caption: caption.into(),
        x_label: x_label.into(),
        base,
        points,
        legend,
        note,
    }
}

/// The mean and range of the runs of `s` that have a positive x (for the log axis) and a
/// finite score; `None` when none has.
fn series_point(style: usize, s: &Series, x: &impl Fn(&RunReport) -> Option<f64>) -> Option<Point> {
    let pairs: Vec<(f64, f64)> = s
        .runs
        .iter()
        .filter_map(|r| Some((x(r)?, r.best_score(Metric::Overall))))
        .filter(|(x, y)| *x > 0.0 && y.is_finite())
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let ys = || pairs.iter().map(|p| p.1);
    Some(Point {
        style,
        x: pairs.iter().map(|p| p.0).sum::<f64>() / n,
        mean: ys().sum::<f64>() / n,
        min: ys().fold(f64::INFINITY, f64::min),
        max: ys().fold(f64::NEG_INFINITY, f64::max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_averages_a_centred_window_and_fewer_points_at_the_ends() {
        let zigzag: Vec<(f64, f64)> = (0..20)
            .map(|i| (i as f64, if i % 2 == 0 { 1.0 } else { 3.0 }))
            .collect();
        let smooth = smoothed(&zigzag);
        assert_eq!(smooth.len(), 20);
        assert_eq!(
            smooth[10],
            (10.0, 17.0 / 9.0),
            "5 ones and 4 threes around an even point"
        );
        assert_eq!(smooth[0], (0.0, 9.0 / 5.0), "points 0..=4 at the start");
        assert!(smooth.iter().all(|p| (1.5..2.5).contains(&p.1)), "{smooth:?}");
    }
}
