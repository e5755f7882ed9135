//! `minbert report` end to end on fake run directories (no model needed): the table on stdout,
//! report.md, the SVG and PNG plots and the JSON rows of --out and --json, and one-line errors.

use std::path::Path;

use serde_json::{Value, json};
use tempfile::TempDir;

mod common;

use common::*;

fn scores(sst: f64, quora: f64, sts: f64) -> Value {
    let overall = (sst + quora + (sts + 1.0) / 2.0) / 3.0;
    json!({"sst_acc": sst, "sst_macro_f1": null, "quora_acc": quora, "quora_f1": null,
           "sts_pearson": sts, "sts_spearman": null, "overall": overall})
}

/// A run `parent/name` with a LoRA config of rank `r`, two logged steps and an evaluation; a
/// `summary.json` (trained `train_s` seconds over 2 epochs) when `train_s` is given.
fn write_run(parent: &Path, name: &str, r: usize, train_s: Option<f64>) {
    let dir = parent.join(name);
    std::fs::create_dir_all(dir.join("last")).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[adapter]\nmode = \"lora\"\nr = {r}\nalpha = 16.0\n[tasks.sst]\n[tasks.para]\n[tasks.sts]\n[train]\nepochs = 2\n"),
    )
    .unwrap();
    let best = scores(0.4, 0.7 + r as f64 / 100.0, 0.5);
    let lines = [
        json!({"type": "train", "step": 5, "epoch": 1.0, "lr": 1e-3, "loss": {"sst": 1.6, "para": 0.7, "sts": 2.0}, "examples_per_s": 9.0, "wall_s": 20.0}),
        json!({"type": "train", "step": 10, "epoch": 2.0, "lr": 1e-3, "loss": {"sst": 1.4, "para": 0.6, "sts": 1.5}, "examples_per_s": 9.0, "wall_s": 40.0}),
        json!({"type": "eval", "step": 10, "epoch": 2.0, "scores": best, "best": true, "eval_s": 3.0, "wall_s": 43.0}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("metrics.jsonl"), text).unwrap();
    let params = json!({"trainable": 1000 * r, "total": 22_000_000});
    let meta = json!({"minbert_version": "0.1.0", "mode": "lora", "step": 10, "epoch": 2, "params": params});
    std::fs::write(dir.join("last/meta.json"), meta.to_string()).unwrap();
    if let Some(train_s) = train_s {
        let summary = json!({
            "minbert_version": "0.1.0", "status": "completed", "steps": 10, "epochs": 2, "select": "overall",
            "best": {"step": 10, "epoch": 2.0, "scores": best}, "last_scores": best,
            "train_s": train_s, "eval_s": 3.0, "wall_s": train_s + 3.0,
            "examples": {"sst": 80}, "examples_per_s": {"sst": 9.0}, "train_examples_per_s": 9.0,
            "peak_rss_mib": 700.0, "params": params,
            "precision": {"requested": "f32", "compute": "f32"}, "skipped_steps": 0, "notes": []
        });
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    }
}

fn row<'a>(table: &'a str, run: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {run} |")))
        .unwrap_or_else(|| panic!("no row {run} in\n{table}"));
    line.trim_matches('|').split(" | ").map(str::trim).collect()
}

#[test]
fn report_prints_the_table_and_writes_markdown_plots_and_json() {
    let dir = TempDir::new().unwrap();
    let study = dir.path().join("study");
    write_run(&study, "r1", 1, Some(50.0));
    write_run(&study, "r8", 8, Some(80.0));
    write_run(&study, "r4-running", 4, None);
    let out = dir.path().join("docs");
    let json_path = dir.path().join("rows.json");
    // A folder of runs stands for each run in it.
    let stdout = ok(&[
        "report",
        "--runs",
        study.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
    ]);

    assert!(stdout.starts_with("| run | mode | r |"), "{stdout}");
    let r1 = row(&stdout, "r1");
    assert_eq!(
        (r1[1], r1[2], r1[5], r1[8], r1[14]),
        ("lora", "1", "1,000 (0.005%)", "25.0", "completed")
    );
    assert_eq!(row(&stdout, "r8")[8], "40.0", "80 s over 2 epochs");
    assert_eq!(row(&stdout, "r4-running")[14], "**unfinished** (step 10)");
    // Unfinished: 40 s of logged wall time (the evaluation came after it) over 2 epochs.
    assert_eq!(row(&stdout, "r4-running")[8], "20.0");

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains(&stdout), "report.md holds the table:\n{report}");
    for svg in ["curves.svg", "dev.svg", "score-vs-params.svg", "score-vs-rank.svg"] {
        assert!(
            report.contains(&format!("]({svg})")),
            "report.md embeds {svg}:\n{report}"
        );
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(text.contains("<svg") && text.contains("r8"), "{svg}");
        // A PNG beside each SVG.
        let png = std::fs::read(out.join(svg.replace(".svg", ".png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{svg} has no PNG beside it");
    }

    let rows: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["r1", "r4-running", "r8"]);
    assert_eq!(rows[2]["s_per_epoch"], 40.0);
    assert_eq!(rows[1]["status"], "unfinished");
    assert!(rows[0]["best"]["scores"]["sst_macro_f1"].is_null());
}

#[test]
fn report_takes_several_run_directories_and_only_prints_without_out() {
    let dir = TempDir::new().unwrap();
    write_run(dir.path(), "b", 2, Some(10.0));
    write_run(dir.path(), "a", 2, Some(10.0));
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let stdout = ok(&["report", "--runs", b.to_str().unwrap(), a.to_str().unwrap()]);
    let rows: Vec<&str> = stdout.lines().skip(2).map(|l| l.split(" | ").next().unwrap()).collect();
    assert_eq!(rows, ["| b", "| a"], "in the order given:\n{stdout}");
    assert!(!dir.path().join("report.md").exists());
}

#[test]
fn report_on_a_directory_that_is_not_a_run_is_a_one_line_error() {
    let dir = TempDir::new().unwrap();
    let empty = dir.path().join("not-a-run");
    std::fs::create_dir(&empty).unwrap();
    let stderr = fails(&["report", "--runs", empty.to_str().unwrap()]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{}: not a training run (no config.toml", empty.display())),
        "{stderr}"
    );

    write_run(dir.path(), "bad", 1, None);
    let metrics = dir.path().join("bad/metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str("{\"type\": \"eval\", \"step\": 11}\n");
    std::fs::write(&metrics, text).unwrap();
    let stderr = fails(&["report", "--runs", dir.path().join("bad").to_str().unwrap()]);
    assert!(
        stderr.contains("bad/metrics.jsonl:4: expected a JSON object"),
        "{stderr}"
    );
}
