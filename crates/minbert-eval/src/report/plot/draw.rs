//! Drawing the figures with plotters into SVG strings. Errors are plotters' messages.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Entry, LineFigure, Panel, Point, ScatterFigure};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawError = DrawingAreaErrorKind<std::io::Error>;
type Drawn = Result<(), DrawError>;
type Chart<'a, 'b, X, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>;

/// The family the SVG names; the PNG renderer maps it to the bundled font too.
const FAMILY: &str = "sans-serif";
const PANEL: (u32, u32) = (560, 400);
const CAPTION_SIZE: u32 = 19;
const TICK_SIZE: u32 = 15;
const AXIS_SIZE: u32 = 16;
const LEGEND_SIZE: u32 = 15;
const NOTE_SIZE: u32 = 13;

/// Okabe and Ito's colour-blind-safe palette, without its yellow (too pale on white).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];
/// Series past the palette repeat its colours with another dash pattern and marker.
const VARIANTS: usize = 4;

/// plotters measures text with the bundled font (its `ab_glyph` feature knows no system fonts).
pub(super) fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, super::FONT).is_ok());
    ok.then_some(()).ok_or_else(|| "the bundled font does not load".into())
}

fn color(style: usize) -> RGBColor {
    PALETTE[style % PALETTE.len()]
}

fn variant(style: usize) -> usize {
    style / PALETTE.len() % VARIANTS
}

/// Dash and gap in pixels; `None`: solid.
fn dash(style: usize) -> Option<(i32, i32)> {
    [None, Some((8, 4)), Some((2, 3)), Some((14, 4))][variant(style)]
}

/// A filled marker's outline around (0, 0): circle, square, triangle or diamond.
fn marker(style: usize, r: i32) -> Vec<(i32, i32)> {
    match variant(style) {
        0 => (0..24)
            .map(|i| {
                let a = f64::from(i) * std::f64::consts::TAU / 24.0;
                (
                    (f64::from(r) * a.cos()).round() as i32,
                    (f64::from(r) * a.sin()).round() as i32,
                )
            })
            .collect(),
        1 => {
            let s = r * 4 / 5;
            vec![(-s, -s), (s, -s), (s, s), (-s, s)]
        }
        2 => vec![(0, -r - 1), (r, r * 3 / 4), (-r, r * 3 / 4)],
        _ => vec![(0, -r - 1), (r, 0), (0, r + 1), (-r, 0)],
    }
}

fn font(size: u32) -> FontDesc<'static> {
    (FAMILY, size).into_font()
}

/// Tick labels a linear axis gets at most (plotters' hint).
const LABELS: usize = 6;

/// The decimals that show every tick plotters puts on `range` exactly, so that all have as many:
/// `0.60, 0.65`, `100, 200`.
fn decimals(range: &std::ops::Range<f64>) -> usize {
    let exact = |v: f64| {
        (0..6)
            .find(|&d| {
                let scale = 10f64.powi(d);
                ((v * scale).round() / scale - v).abs() <= 1e-9 * v.abs().max(1.0)
            })
            .unwrap_or(6) as usize
    };
    let ticks = RangedCoordf64::from(range.clone()).key_points(LABELS);
    ticks.into_iter().map(exact).max().unwrap_or(0)
}

/// A linear axis' tick label with `decimals` digits (never `-0`).
fn tick(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    match text.trim_start_matches('-').trim_matches(|c| c == '0' || c == '.') {
        "" => format!("{:.decimals$}", 0.0),
        _ => text,
    }
}

/// `v` to three significant digits (below 1000), trailing zeros dropped: `335`, `2.5`, `22.7`.
fn short(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{v:.decimals$}");
    if decimals == 0 {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A log axis' tick label: `500`, `10k`, `2.5M`.
fn log_tick(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{}M", short(v / 1e6)),
        v if v >= 1e3 => format!("{}k", short(v / 1e3)),
        v => short(v),
    }
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

/// Renders a figure of `size` pixels on white into an SVG string.
fn svg(size: (u32, u32), draw: impl FnOnce(&Area) -> Drawn) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The panels side by side over their legend; `None` when no panel has a line.
pub(super) fn lines(figure: &LineFigure) -> Result<Option<String>, String> {
    let panels: Vec<&Panel> = figure.panels.iter().filter(|p| !p.lines.is_empty()).collect();
    if panels.is_empty() {
        return Ok(None);
    }
    // Up to three panels in a row; four make a square.
    let rows = panels.len().div_ceil(3);
    let columns = panels.len().div_ceil(rows);
    let (width, height) = (PANEL.0 * columns as u32, PANEL.1 * rows as u32);
    let legend = Legend::new(&figure.legend, &figure.note, width, Sample::Line)?;
    let svg = svg((width, height + legend.height()), |root| {
        let (top, bottom) = root.split_vertically(height);
        for (area, panel) in top.split_evenly((rows, columns)).iter().zip(&panels) {
            line_panel(area, panel)?;
        }
        legend.draw(&bottom)
    })?;
    Ok(Some(svg))
}

/// A chart with the report's caption font and margins.
fn chart<'a, 'b, X, Y>(
    area: &'a Area<'b>,
    caption: &str,
    x: X,
    y: Y,
) -> Result<Chart<'a, 'b, X::CoordDescType, Y::CoordDescType>, DrawError>
where
    X: AsRangedCoord,
    Y: AsRangedCoord,
{
    ChartBuilder::on(area)
        .caption(caption, font(CAPTION_SIZE))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
}

fn line_panel(area: &Area, panel: &Panel) -> Drawn {
    let points = || panel.lines.iter().flat_map(|l| l.raw.iter());
    let x_range = padded(points().map(|p| p.0));
    let y_range = padded(points().map(|p| p.1));
    let (x_decimals, y_decimals) = (decimals(&x_range), decimals(&y_range));
    let mut chart = chart(area, &panel.caption, x_range, y_range)?;
    chart
        .configure_mesh()
        .x_labels(LABELS)
        .y_labels(LABELS)
        .x_label_formatter(&|v| tick(*v, x_decimals))
        .y_label_formatter(&|v| tick(*v, y_decimals))
        .max_light_lines(0)
        .bold_line_style(BLACK.mix(0.08))
        .label_style(font(TICK_SIZE))
        .axis_desc_style(font(AXIS_SIZE))
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .draw()?;
    // Every faint raw curve first, so that none covers another series' smoothed one.
    for line in panel.lines.iter().filter(|l| l.smooth.is_some()) {
        let faint = color(line.style).mix(0.22).stroke_width(1);
        chart.draw_series(LineSeries::new(line.raw.iter().copied(), faint))?;
    }
    for line in &panel.lines {
        match &line.smooth {
            Some(smooth) => styled_line(&mut chart, smooth, line.style)?,
            None => {
                styled_line(&mut chart, &line.raw, line.style)?;
                let c = color(line.style).filled();
                let dot = |p| EmptyElement::at(p) + Polygon::new(marker(line.style, 3), c);
                chart.draw_series(line.raw.iter().map(|&p| dot(p)))?;
            }
        }
    }
    Ok(())
}

type LineChart<'a, 'b> = Chart<'a, 'b, RangedCoordf64, RangedCoordf64>;

/// A series' line: its colour, 2 px, and its dash pattern.
fn styled_line(chart: &mut LineChart, points: &[(f64, f64)], style: usize) -> Drawn {
    let stroke = color(style).stroke_width(2);
    match dash(style) {
        None => chart.draw_series(LineSeries::new(points.iter().copied(), stroke))?,
        Some((d, g)) => chart.draw_series(DashedLineSeries::new(points.iter().copied(), d, g, stroke))?,
    };
    Ok(())
}

/// Points on a log x axis over their legend; `None` when there are no points.
pub(super) fn scatter(figure: &ScatterFigure) -> Result<Option<String>, String> {
    if figure.points.is_empty() {
        return Ok(None);
    }
    // Wider than a panel: the legend below fits more columns.
    let width = PANEL.0 + 160;
    let legend = Legend::new(&figure.legend, &figure.note, width, Sample::Marker)?;
    let svg = svg((width, PANEL.1 + legend.height()), |root| {
        let (top, bottom) = root.split_vertically(PANEL.1);
        scatter_chart(&top, figure)?;
        legend.draw(&bottom)
    })?;
    Ok(Some(svg))
}

/// `lo..hi` widened on the log scale by 6% of its width on each side (at least a factor 1.25).
fn log_padded(points: &[Point]) -> (f64, f64) {
    let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.x), hi.max(p.x))
    });
    let pad = ((hi / lo).ln() * 0.06).exp().max(1.25);
    (lo / pad, hi * pad)
}

/// Ticks at the powers of `base` within `lo..=hi`; on a base-10 axis of fewer than three, also
/// at 2 and 5 times them.
fn log_ticks(lo: f64, hi: f64, base: f64) -> Vec<f64> {
    let powers = |factors: &[f64]| -> Vec<f64> {
        let (k0, k1) = (lo.log(base).floor() as i32, hi.log(base).ceil() as i32);
        (k0..=k1)
            .flat_map(|k| factors.iter().map(move |f| f * base.powi(k)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let ticks = powers(&[1.0]);
    if ticks.len() >= 3 || base != 10.0 {
        ticks
    } else {
        powers(&[1.0, 2.0, 5.0])
    }
}

fn scatter_chart(area: &Area, figure: &ScatterFigure) -> Drawn {
    let (lo, hi) = log_padded(&figure.points);
    let mut ticks = log_ticks(lo, hi, figure.base);
    if ticks.is_empty() {
        // All points at one x, between two ticks: label that x.
        ticks = figure.points.iter().map(|p| p.x).collect();
    }
    let x_axis = (lo..hi).log_scale().with_key_points(ticks);
    let y_range = padded(figure.points.iter().flat_map(|p| [p.min, p.max]));
    let y_decimals = decimals(&y_range);
    let mut chart = chart(area, &figure.caption, x_axis, y_range)?;
    chart
        .configure_mesh()
        .y_labels(LABELS)
        .x_label_formatter(&|v| log_tick(*v))
        .y_label_formatter(&|v| tick(*v, y_decimals))
        .max_light_lines(0)
        .bold_line_style(BLACK.mix(0.08))
        .label_style(font(TICK_SIZE))
        .axis_desc_style(font(AXIS_SIZE))
        .x_desc(&figure.x_label)
        .y_desc("best dev overall")
        .draw()?;
    let width = f64::from(chart.plotting_area().dim_in_pixel().0);
    let xs = dodged(&figure.points, (lo, hi), width);
    for (p, &x) in figure.points.iter().zip(&xs) {
        let c = color(p.style).stroke_width(2);
        if p.max > p.min {
            chart.draw_series([PathElement::new(vec![(x, p.min), (x, p.max)], c)])?;
            let cap = |y| EmptyElement::at((x, y)) + PathElement::new(vec![(-4, 0), (4, 0)], c);
            chart.draw_series([cap(p.min), cap(p.max)])?;
        }
        let c = color(p.style);
        chart.draw_series([EmptyElement::at((x, p.mean)) + Polygon::new(marker(p.style, 6), c.filled())])?;
    }
    Ok(())
}

/// About how many pixels apart markers at one x are spread sideways, so none hides another.
const DODGE_PX: f64 = 10.0;

/// The points' x moved sideways (on the log scale) by their rank among the points at that x.
fn dodged(points: &[Point], (lo, hi): (f64, f64), width: f64) -> Vec<f64> {
    let step = (hi / lo).ln() * DODGE_PX / width;
    points
        .iter()
        .map(|p| {
            let same: Vec<usize> = points.iter().filter(|q| q.x == p.x).map(|q| q.style).collect();
            let k = same.iter().position(|&s| s == p.style).unwrap_or(0) as f64;
            p.x * (step * (k - (same.len() - 1) as f64 / 2.0)).exp()
        })
        .collect()
}

/// What a legend entry shows beside its label.
#[derive(Clone, Copy)]
enum Sample {
    Line,
    Marker,
}

const SAMPLE_W: i32 = 30;
const ROW_H: i32 = 22;
const NOTE_H: i32 = 26;

/// The legend below a figure: its entries in as many columns as fit the width, then a note.
struct Legend<'a> {
    entries: &'a [Entry],
    note: &'a str,
    sample: Sample,
    columns: usize,
    column_w: i32,
    width: i32,
}

impl<'a> Legend<'a> {
    fn new(entries: &'a [Entry], note: &'a str, width: u32, sample: Sample) -> Result<Self, String> {
        let mut text_w = 0;
        for entry in entries {
            let (w, _) = font(LEGEND_SIZE).box_size(&entry.label).map_err(|e| e.to_string())?;
            text_w = text_w.max(w as i32);
        }
        let column_w = SAMPLE_W + 8 + text_w + 24;
        let width = width as i32;
        let columns = ((width - 24) / column_w).clamp(1, entries.len().max(1) as i32) as usize;
        Ok(Legend {
            entries,
            note,
            sample,
            columns,
            column_w,
            width,
        })
    }

    fn rows(&self) -> usize {
        self.entries.len().div_ceil(self.columns)
    }

    fn height(&self) -> u32 {
        (8 + ROW_H * self.rows() as i32 + NOTE_H) as u32
    }

    fn draw(&self, area: &Area) -> Drawn {
        let left = (self.width - self.column_w * self.columns as i32 + 24) / 2;
        for (i, entry) in self.entries.iter().enumerate() {
            let x = left + self.column_w * (i % self.columns) as i32;
            let y = 8 + ROW_H * (i / self.columns) as i32 + ROW_H / 2;
            self.entry(area, entry, (x, y))?;
        }
        let note_y = 8 + ROW_H * self.rows() as i32 + NOTE_H / 2;
        let style = TextStyle::from(font(NOTE_SIZE))
            .color(&RGBColor(68, 68, 68))
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(self.note.to_string(), (12, note_y), style))
    }

    fn entry(&self, area: &Area, entry: &Entry, (x, y): (i32, i32)) -> Drawn {
        let c = color(entry.style);
        match self.sample {
            Sample::Line => {
                for (a, b) in dash_segments(entry.style) {
                    area.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], c.stroke_width(2)))?;
                }
            }
            Sample::Marker => area
                .draw(&(EmptyElement::at((x + SAMPLE_W / 2, y)) + Polygon::new(marker(entry.style, 6), c.filled())))?,
        }
        let style = TextStyle::from(font(LEGEND_SIZE)).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(entry.label.clone(), (x + SAMPLE_W + 8, y), style))
    }
}

/// The dashes of a legend's line sample, as x ranges within `0..SAMPLE_W`.
fn dash_segments(style: usize) -> Vec<(i32, i32)> {
    let Some((d, g)) = dash(style) else {
        return vec![(0, SAMPLE_W)];
    };
    (0..SAMPLE_W)
        .step_by((d + g) as usize)
        .map(|a| (a, (a + d).min(SAMPLE_W)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_have_the_decimals_of_their_step() {
        assert_eq!(decimals(&(0.0..5.5)), 0);
        assert_eq!(decimals(&(0.4..0.7)), 1, "ticks 0.1 apart");
        for range in [0.34..0.79, 0.3437..0.7885, 0.61..0.69, -0.55..0.86, 5.0..475.0] {
            let d = decimals(&range);
            let labels: Vec<String> = RangedCoordf64::from(range.clone())
                .key_points(LABELS)
                .into_iter()
                .map(|v| tick(v, d))
                .collect();
            let distinct: std::collections::BTreeSet<&String> = labels.iter().collect();
            assert_eq!(distinct.len(), labels.len(), "{range:?}: {labels:?}");
            assert!(
                labels.iter().all(|l| l.split('.').nth(1).map_or(0, str::len) == d),
                "{labels:?}"
            );
        }
        assert_eq!(decimals(&(0.0..500.0)), 0);
        assert_eq!(
            (tick(0.6, 2), tick(-0.0001, 2), tick(200.0, 0)),
            ("0.60".into(), "0.00".into(), "200".into())
        );
        assert_eq!(
            (
                log_tick(20_000.0),
                log_tick(2_500_000.0),
                log_tick(4.0),
                log_tick(335_239.0)
            ),
            ("20k".into(), "2.5M".into(), "4".into(), "335k".into())
        );
    }

    #[test]
    fn log_ticks_are_powers_of_the_base_in_range() {
        assert_eq!(log_ticks(0.7, 23.0, 2.0), [1.0, 2.0, 4.0, 8.0, 16.0]);
        assert_eq!(log_ticks(4_000.0, 30_000_000.0, 10.0), [1e4, 1e5, 1e6, 1e7]);
        assert_eq!(log_ticks(800.0, 10_000.0, 10.0), [1e3, 2e3, 5e3, 1e4]);
    }
}
