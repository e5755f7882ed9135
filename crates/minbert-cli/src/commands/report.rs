//! `minbert report`: a markdown table and SVG and PNG plots of training runs (minbert-eval's
//! report).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use minbert_eval::report::{markdown_table, read_runs, write_report};
use minbert_task::files::write_json;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run directories (as `minbert train --out` writes them), or folders whose subdirectories
    /// with a config.toml are runs, like runs/study (repeatable, or several after one --runs).
    #[arg(long, value_name = "DIR", required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Also write DIR/report.md (the table and the plots) and the plots as SVG and PNG files.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the table's rows to this JSON file (NaN scores as null).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let runs = read_runs(&args.runs)?;
    print!("{}", markdown_table(&runs));
    for note in runs.iter().flat_map(|r| &r.notes) {
        eprintln!("note: {note}");
    }
    if let Some(out) = &args.out {
        let (report, plots) = write_report(out, &runs)?;
        eprintln!("wrote {} and {plots} plots (SVG and PNG)", report.display());
    }
    if let Some(path) = &args.json {
        write_json(path, &serde_json::to_value(&runs).context("report rows as JSON")?)?;
    }
    Ok(())
}
