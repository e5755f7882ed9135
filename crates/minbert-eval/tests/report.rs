//! Reports on fake run directories: the table's rows and values, seconds per epoch, unfinished
//! runs, malformed metrics lines, and the SVG plots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minbert_eval::EvalError;
use minbert_eval::report::{
    UNFINISHED, find_runs, markdown_table, natural_cmp, plots, read_run, read_runs, report_markdown, write_report,
};
use minbert_task::checkpoint::{ParamCount, PrecisionInfo};
use minbert_task::run::BestCheckpoint;
use minbert_task::{Metric, Precision, RunSummary, Scores};
use serde_json::json;

fn config(mode: &str, r: usize, tasks: &[&str]) -> String {
    let mut text =
        format!("[adapter]\nmode = \"{mode}\"\nr = {r}\nalpha = 16.0\ntargets = \"attn\"\n\n[train]\nepochs = 3\n");
    for task in tasks {
        text.push_str(&format!("\n[tasks.{task}]\n"));
    }
    text
}

fn scores(sst: f64, quora: f64, sts: f64) -> Scores {
    let overall = minbert_task::metrics::overall(sst, quora, sts);
    Scores {
        sst_acc: sst,
        sst_macro_f1: f64::NAN,
        quora_acc: quora,
        quora_f1: f64::NAN,
        sts_pearson: sts,
        sts_spearman: f64::NAN,
        overall,
    }
}

fn summary(
    status: &str,
    steps: usize,
    epochs: usize,
    train_s: f64,
    params: (usize, usize),
    best: Scores,
) -> RunSummary {
    RunSummary {
        minbert_version: "0.1.0".into(),
        status: status.into(),
        steps,
        epochs,
        select: Metric::Overall,
        best: Some(BestCheckpoint {
            step: steps,
            epoch: epochs as f64,
            scores: best,
        }),
        last_scores: Some(best),
        train_s,
        eval_s: 12.0,
        wall_s: train_s + 12.0,
        examples: BTreeMap::new(),
        examples_per_s: BTreeMap::new(),
        train_examples_per_s: 100.0,
        peak_rss_mib: Some(812.4),
        params: ParamCount {
            trainable: params.0,
            total: params.1,
        },
        precision: PrecisionInfo {
            requested: Precision::F32,
            compute: Precision::F32,
            note: None,
        },
        skipped_steps: 0,
        notes: vec![],
    }
}

fn train_line(step: usize, epoch: f64, sst: f64, sts: f64, wall_s: f64) -> String {
    json!({"type": "train", "step": step, "epoch": epoch, "lr": 1e-3, "loss": {"sst": sst, "sts": sts},
           "grad_norm": 1.0, "examples_per_s": 50.0, "wall_s": wall_s, "time": 0.0})
    .to_string()
}

fn eval_line(step: usize, epoch: f64, s: Scores, best: bool, eval_s: f64, wall_s: f64) -> String {
    json!({"type": "eval", "step": step, "epoch": epoch, "scores": s, "best": best, "eval_s": eval_s, "wall_s": wall_s, "time": 0.0})
        .to_string()
}

/// A run directory `parent/name` with these files (`summary` and `meta` optional).
fn write_run(
    parent: &Path,
    name: &str,
    config: &str,
    metrics: &[String],
    summary: Option<&RunSummary>,
    meta: Option<(usize, usize, usize)>,
) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let mut text = metrics.join("\n");
    text.push('\n');
    std::fs::write(dir.join("metrics.jsonl"), text).unwrap();
    if let Some(s) = summary {
        std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(s).unwrap()).unwrap();
    }
    if let Some((step, trainable, total)) = meta {
        std::fs::create_dir_all(dir.join("last")).unwrap();
        let meta = json!({"minbert_version": "0.1.0", "mode": "lora", "step": step, "epoch": 0, "params": {"trainable": trainable, "total": total}});
        std::fs::write(dir.join("last/meta.json"), meta.to_string()).unwrap();
    }
    dir
}

/// Two finished runs in `parent`: `lora-r1` (3 epochs in 300 s) and `dora-r8` (stopped at
/// max_steps at epoch 1.5 after 90 s).
fn two_finished_runs(parent: &Path) -> (PathBuf, PathBuf) {
    let lora_best = scores(0.45, 0.80, 0.60);
    let lora = write_run(
        parent,
        "lora-r1",
        &config("lora", 1, &["sst", "para", "sts"]),
        &[
            train_line(10, 1.0, 1.5, 2.0, 100.0),
            eval_line(10, 1.0, scores(0.3, 0.7, 0.4), true, 4.0, 104.0),
            train_line(30, 3.0, 1.2, 1.1, 300.0),
            eval_line(30, 3.0, lora_best, true, 4.0, 312.0),
        ],
        Some(&summary("completed", 30, 3, 300.0, (100_000, 20_000_000), lora_best)),
        None,
    );
    let dora_best = scores(0.50, 0.82, 0.70);
    let dora = write_run(
        parent,
        "dora-r8",
        &config("dora", 8, &["sst", "para", "sts"]),
        &[
            train_line(15, 1.5, 1.3, 1.0, 90.0),
            eval_line(15, 1.5, dora_best, true, 5.0, 95.0),
        ],
        Some(&summary("max_steps", 15, 1, 90.0, (400_000, 20_300_000), dora_best)),
        None,
    );
    (lora, dora)
}

/// The cells of the table's row for `run`.
fn row<'a>(table: &'a str, run: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {run} |")))
        .unwrap_or_else(|| panic!("no row for {run} in\n{table}"));
    line.trim_matches('|').split(" | ").map(str::trim).collect()
}

#[test]
fn finished_runs_give_rows_with_config_params_time_memory_and_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let (lora, dora) = two_finished_runs(tmp.path());
    let runs = read_runs(&[lora, dora]).unwrap();
    assert_eq!(runs[0].name, "lora-r1");
    assert_eq!(runs[0].s_per_epoch, Some(100.0));
    // Stopped within its second epoch: 90 s over 1.5 epochs (the metrics' fraction).
    assert_eq!(runs[1].epochs, 1.5);
    assert_eq!(runs[1].s_per_epoch, Some(60.0));

    let table = markdown_table(&runs);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("| run | mode | r | alpha | targets | trainable | total |"),
        "{table}"
    );
    assert_eq!(
        row(&table, "lora-r1"),
        [
            "lora-r1",
            "lora",
            "1",
            "16",
            "attn",
            "100,000 (0.50%)",
            "20,000,000",
            "3.00",
            "100.0",
            "812",
            "0.4500",
            "0.8000",
            "0.6000",
            "0.6833",
            "completed"
        ]
    );
    let dora = row(&table, "dora-r8");
    assert_eq!(
        (dora[1], dora[2], dora[7], dora[8], dora[14]),
        ("dora", "8", "1.50", "60.0", "max_steps")
    );
}

#[test]
fn scores_of_untrained_tasks_and_missing_adapters_show_a_dash() {
    let tmp = tempfile::tempdir().unwrap();
    let best = scores(0.40, f64::NAN, f64::NAN);
    let best = Scores { overall: 0.40, ..best };
    let dir = write_run(
        tmp.path(),
        "heads-sst",
        &config("heads", 8, &["sst"]),
        &[
            train_line(5, 1.0, 1.4, f64::NAN, 20.0),
            eval_line(5, 1.0, best, true, 1.0, 21.0),
        ],
        Some(&summary("completed", 5, 1, 20.0, (1_925, 22_000_000), best)),
        None,
    );
    let run = read_run(&dir).unwrap();
    assert_eq!(run.r, None, "heads mode has no adapter rank");
    let cells = markdown_table(std::slice::from_ref(&run))
        .lines()
        .nth(2)
        .unwrap()
        .to_string();
    let cells: Vec<&str> = cells.trim_matches('|').split(" | ").map(str::trim).collect();
    assert_eq!((cells[2], cells[3], cells[4]), ("–", "–", "–"));
    assert_eq!(
        (cells[10], cells[11], cells[12], cells[13]),
        ("0.4000", "–", "–", "0.4000")
    );
    // The NaN sts loss (written as null by the trainer) is no point of the curve.
    assert!(!run.curves.train_loss.contains_key("sts"));
    // And the JSON rows write NaN as null.
    let rows = serde_json::to_value(&[run]).unwrap();
    assert!(rows[0]["best"]["scores"]["quora_acc"].is_null(), "{rows}");
    assert_eq!(rows[0]["trainable_params"], 1925);
}

#[test]
fn a_run_without_summary_is_reported_as_unfinished() {
    let tmp = tempfile::tempdir().unwrap();
    let first = scores(0.30, 0.70, 0.50);
    let later = scores(0.28, 0.69, 0.40);
    let dir = write_run(
        tmp.path(),
        "killed",
        &config("lora", 4, &["sst", "para", "sts"]),
        &[
            train_line(10, 0.25, 1.5, 2.0, 25.0),
            eval_line(10, 0.25, first, true, 4.0, 29.0),
            eval_line(20, 0.5, later, false, 6.0, 45.0),
            train_line(20, 0.5, 1.3, 1.5, 50.0),
        ],
        None,
        Some((20, 5_000, 22_000_000)),
    );
    let run = read_run(&dir).unwrap();
    assert!(!run.finished());
    assert_eq!(run.status, UNFINISHED);
    assert_eq!((run.steps, run.epochs), (20, 0.5));
    assert_eq!(run.trainable_params, Some(5_000));
    assert_eq!(run.peak_rss_mib, None);
    // 50 s of wall time less 10 s of evaluations, over half an epoch.
    assert_eq!(run.s_per_epoch, Some(80.0));
    // The best is the evaluation the trainer flagged, not the last.
    let best = run.best.as_ref().unwrap();
    assert_eq!((best.step, best.scores.sst_acc), (10, 0.30));
    let table = markdown_table(&[run]);
    assert_eq!(row(&table, "killed")[14], "**unfinished** (step 20)");
}

#[test]
fn a_torn_last_line_of_a_killed_run_is_skipped_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(
        tmp.path(),
        "torn",
        &config("lora", 4, &["sst"]),
        &[train_line(10, 0.5, 1.5, 2.0, 25.0)],
        None,
        None,
    );
    let mut text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.push_str("{\"type\": \"train\", \"step\": 2");
    std::fs::write(dir.join("metrics.jsonl"), text).unwrap();
    let run = read_run(&dir).unwrap();
    assert_eq!(run.steps, 10);
    assert_eq!(run.notes.len(), 1);
    assert!(run.notes[0].contains("metrics.jsonl:2"), "{:?}", run.notes);
}

#[test]
fn a_malformed_metrics_line_names_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let good = train_line(10, 0.5, 1.5, 2.0, 25.0);
    for (name, bad) in [
        ("not-json", "{not json".to_string()),
        ("no-scores", r#"{"type": "eval", "step": 3, "epoch": 1.0}"#.to_string()),
    ] {
        let dir = write_run(
            tmp.path(),
            name,
            &config("lora", 4, &["sst"]),
            &[good.clone(), bad, good.clone()],
            None,
            None,
        );
        let err = read_run(&dir).unwrap_err();
        assert!(matches!(err, EvalError::Metrics { line: 2, .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("{name}/metrics.jsonl:2: expected a JSON object")),
            "{message}"
        );
    }
    let message = read_run(&tmp.path().join("no-scores")).unwrap_err().to_string();
    assert!(message.contains("scores"), "{message}");
}

#[test]
fn directories_that_are_not_runs_are_errors_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = find_runs(&empty).unwrap_err();
    assert!(matches!(err, EvalError::NotARun { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("{}: not a training run (no config.toml", empty.display())),
        "{err}"
    );

    let no_metrics = tmp.path().join("no-metrics");
    std::fs::create_dir(&no_metrics).unwrap();
    std::fs::write(no_metrics.join("config.toml"), config("lora", 1, &["sst"])).unwrap();
    let err = read_run(&no_metrics).unwrap_err().to_string();
    assert!(
        err.contains("no-metrics: not a training run (no metrics.jsonl)"),
        "{err}"
    );

    let dir = write_run(
        tmp.path(),
        "bad-config",
        "[adapter]\nmode = \"lora\"\nrank = 4\n[tasks.sst]\n",
        &[],
        None,
        None,
    );
    let err = read_run(&dir).unwrap_err().to_string();
    assert!(err.contains("bad-config/config.toml") && err.contains("rank"), "{err}");
}

#[test]
fn a_folder_of_runs_stands_for_each_run_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    two_finished_runs(tmp.path());
    std::fs::create_dir(tmp.path().join("plots")).unwrap(); // not a run: ignored
    let found = find_runs(tmp.path()).unwrap();
    let names: Vec<_> = found
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["dora-r8", "lora-r1"]);
    assert_eq!(read_runs(&[tmp.path().to_path_buf()]).unwrap().len(), 2);
}

#[test]
fn runs_are_listed_in_natural_order() {
    let mut names = vec![
        "lora-r16",
        "lora-r2",
        "lora-r1-seed2",
        "lora-r1",
        "dora-r8",
        "lora-r02",
        "lora-rx",
    ];
    names.sort_by(|a, b| natural_cmp(a, b));
    // Equal numbers (02, 2) fall back to the text, so the order is total.
    assert_eq!(
        names,
        [
            "dora-r8",
            "lora-r1",
            "lora-r1-seed2",
            "lora-r02",
            "lora-r2",
            "lora-r16",
            "lora-rx"
        ]
    );
}

/// The texts an SVG draws (trimmed contents of its `<text>` elements).
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
        .collect()
}

#[test]
fn plots_are_svg_with_run_names_and_axis_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let (lora, dora) = two_finished_runs(tmp.path());
    let runs = read_runs(&[lora, dora]).unwrap();
    let plots = plots(&runs).unwrap();
    let names: Vec<&str> = plots.iter().map(|p| p.file_name).collect();
    assert_eq!(
        names,
        ["curves.svg", "dev.svg", "score-vs-params.svg", "score-vs-rank.svg"]
    );
    for plot in &plots {
        assert!(
            plot.svg.starts_with("<svg") || plot.svg.contains("<svg "),
            "{}",
            plot.file_name
        );
        let texts = svg_texts(&plot.svg);
        assert!(
            texts.contains(&"lora-r1") && texts.contains(&"dora-r8"),
            "{} lacks the run names: {texts:?}",
            plot.file_name
        );
        assert!(plot.svg.trim_end().ends_with("</svg>"), "{}", plot.file_name);
    }
    let curves = svg_texts(&plots[0].svg);
    for label in ["training loss: sst", "training loss: sts", "step", "loss"] {
        assert!(curves.contains(&label), "curves.svg lacks {label}: {curves:?}");
    }
    assert!(svg_texts(&plots[2].svg).contains(&"trainable parameters (log)"));

    // Runs of one rank get no rank plot; markdown embeds the plots it gets.
    let same_rank = read_runs(&[tmp.path().join("lora-r1")]).unwrap();
    let plots = minbert_eval::report::plots(&same_rank).unwrap();
    assert!(plots.iter().all(|p| p.file_name != "score-vs-rank.svg"));
    let markdown = report_markdown(&same_rank, &plots);
    assert!(markdown.contains("| lora-r1 |"), "{markdown}");
    assert!(
        markdown.contains("](curves.svg)") && markdown.contains("](score-vs-params.svg)"),
        "{markdown}"
    );
    assert!(!markdown.contains("score-vs-rank"), "{markdown}");
}

#[test]
fn the_report_folder_holds_report_md_and_every_plot_as_svg_and_png() {
    let tmp = tempfile::tempdir().unwrap();
    let (lora, dora) = two_finished_runs(tmp.path());
    let runs = read_runs(&[lora, dora]).unwrap();
    let out = tmp.path().join("report");
    let (report, count) = write_report(&out, &runs).unwrap();
    assert_eq!((report.clone(), count), (out.join("report.md"), 4));
    let markdown = std::fs::read_to_string(&report).unwrap();
    assert_eq!(markdown, report_markdown(&runs, &plots(&runs).unwrap()));
    for plot in plots(&runs).unwrap() {
        assert_eq!(std::fs::read_to_string(out.join(plot.file_name)).unwrap(), plot.svg);
        assert!(
            std::fs::read(out.join(plot.png_file_name()))
                .unwrap()
                .starts_with(b"\x89PNG")
        );
    }
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert_eq!(files.len(), 9, "report.md and 4 plots twice, nothing else: {files:?}");
}

/// `lora-r1` and `dora-r8` of [`two_finished_runs`], and `lora-r1-s43`: lora-r1's config with
/// another seed (best overall 0.1 higher) and 40 logged losses.
fn three_runs_two_seeds(parent: &Path) -> Vec<minbert_eval::report::RunReport> {
    let (lora, dora) = two_finished_runs(parent);
    let seeded = config("lora", 1, &["sst", "para", "sts"]).replace("epochs = 3\n", "epochs = 3\nseed = 43\n");
    let best = scores(0.55, 0.90, 0.60);
    let metrics: Vec<String> = (1..=40)
        .map(|i| {
            train_line(
                10 * i,
                i as f64 / 10.0,
                1.5 - 0.01 * i as f64,
                2.0 - 0.02 * i as f64,
                i as f64,
            )
        })
        .collect();
    let summary = summary("completed", 400, 4, 40.0, (100_000, 20_000_000), best);
    let seed43 = write_run(parent, "lora-r1-s43", &seeded, &metrics, Some(&summary), None);
    read_runs(&[lora, dora, seed43]).unwrap()
}

/// The `(width, height)` attributes of an SVG's root element.
fn svg_size(svg: &str) -> (u32, u32) {
    let attr = |name: &str| -> u32 {
        let start = svg.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        svg[start..].split('"').next().unwrap().parse().unwrap()
    };
    (attr("width"), attr("height"))
}

#[test]
fn plots_render_to_png_at_twice_the_svg_size_with_coloured_ink() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = three_runs_two_seeds(tmp.path());
    for plot in plots(&runs).unwrap() {
        let png = plot.png().unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is no PNG",
            plot.png_file_name()
        );
        let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap();
        let (w, h) = svg_size(&plot.svg);
        assert_eq!((pixmap.width(), pixmap.height()), (2 * w, 2 * h), "{}", plot.file_name);
        let pixels = pixmap.pixels();
        let ink = pixels
            .iter()
            .filter(|p| p.red().min(p.green()).min(p.blue()) < 200)
            .count();
        let fraction = ink as f64 / pixels.len() as f64;
        assert!(
            (0.01..0.5).contains(&fraction),
            "{}: {fraction} of the pixels inked",
            plot.file_name
        );
        // The series' colours, not only black text and grey grid lines.
        let coloured = pixels.iter().filter(|p| p.red().abs_diff(p.blue()) > 100).count();
        assert!(coloured > 100, "{}: {coloured} coloured pixels", plot.file_name);
    }
}

#[test]
fn runs_differing_only_in_seed_are_one_series_with_bars() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = three_runs_two_seeds(tmp.path());
    let plots = plots(&runs).unwrap();
    for plot in &plots {
        let texts = svg_texts(&plot.svg);
        assert!(texts.contains(&"lora-r1 (2 runs)"), "{}: {texts:?}", plot.file_name);
        assert!(
            !texts.iter().any(|t| t.contains("s43")),
            "{}: {texts:?}",
            plot.file_name
        );
        assert!(texts.contains(&"dora-r8"), "{}: {texts:?}", plot.file_name);
    }
    let by_params = plots.iter().find(|p| p.file_name == "score-vs-params.svg").unwrap();
    let note =
        "Markers: mean best dev overall over runs whose configs differ at most in the seed; bars: their min to max.";
    assert!(svg_texts(&by_params.svg).contains(&note));
    let curves = svg_texts(&plots[0].svg);
    assert!(
        curves
            .iter()
            .any(|t| t.starts_with("Bold: centred moving average over 9 logged points")),
        "{curves:?}"
    );
}

#[test]
fn log_axes_tick_at_powers_of_two_and_ten_with_short_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = three_runs_two_seeds(tmp.path());
    let plots = plots(&runs).unwrap();
    let texts = |name: &str| svg_texts(&plots.iter().find(|p| p.file_name == name).unwrap().svg).join("|");
    // Ranks 1 and 8; 100k and 400k parameters.
    assert!(
        texts("score-vs-rank.svg").contains("|1|2|4|8|"),
        "{}",
        texts("score-vs-rank.svg")
    );
    assert!(
        texts("score-vs-params.svg").contains("|100k|200k|500k|"),
        "{}",
        texts("score-vs-params.svg")
    );
    for plot in &plots {
        for text in svg_texts(&plot.svg) {
            assert!(
                text.matches('.').count() <= 1,
                "{}: tick labels run together: {text}",
                plot.file_name
            );
        }
    }
}
