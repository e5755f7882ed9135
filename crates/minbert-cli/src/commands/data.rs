//! `minbert data stats`: per task and split, the examples, skipped rows, label distribution and
//! token-length percentiles.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use minbert_data::{
    BertTokenizer, CourseOptions, CustomTask, DataDir, DataStats, LabelStats, QuoraTrain, SplitStats, data_stats,
};

use crate::model_dir::ModelArgs;
use minbert_task::files::write_json;

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Examples, skipped rows, labels and token lengths of every split.
    Stats(StatsArgs),
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Folder with the course files [default: MINBERT_DATA_DIR, else data/ in the current
    /// directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Which Quora training file: auto (the full one where it exists, else the partial one),
    /// full or partial.
    #[arg(long, default_value = "auto", value_name = "WHICH")]
    pub quora_train: QuoraTrain,
    /// Also a custom task declared in TOML (repeatable).
    #[arg(long = "task", value_name = "TOML")]
    pub tasks: Vec<PathBuf>,
    /// Token lengths are counted up to this many tokens.
    #[arg(long, default_value_t = 512)]
    pub max_len: usize,
    /// Leave out token lengths (no model needed).
    #[arg(long)]
    pub no_tokens: bool,
    /// Also write the statistics to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: DataArgs) -> Result<()> {
    match args.command {
        DataCommand::Stats(args) => stats(args),
    }
}

fn stats(args: StatsArgs) -> Result<()> {
    let dir = DataDir::resolve(args.data_dir.as_deref())?;
    let tokenizer = if args.no_tokens {
        None
    } else {
        let model = args.model.resolve()?.dir;
        Some(BertTokenizer::from_dir(&model)?.with_max_len(args.max_len)?)
    };
    let custom = args
        .tasks
        .iter()
        .map(|path| CustomTask::from_toml_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let options = CourseOptions {
        quora_train: args.quora_train,
        ..CourseOptions::default()
    };
    let stats = data_stats(&dir, &options, &custom, tokenizer.as_ref())?;
    print_table(&stats);
    if let Some(path) = &args.json {
        let value = serde_json::to_value(&stats)?;
        write_json(path, &value).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_table(stats: &DataStats) {
    println!(
        "data dir {} ({})",
        stats.data_dir.display(),
        stats.data_dir_origin.describe()
    );
    println!(
        "{:<6} {:<5} {:>8} {:>7}  {:<22}  {:<40}  labels",
        "task", "split", "examples", "skipped", "tokens p50/p90/p99/max", "file"
    );
    for split in &stats.splits {
        let file = split.path.strip_prefix(&stats.data_dir).unwrap_or(&split.path);
        println!(
            "{:<6} {:<5} {:>8} {:>7}  {:<22}  {:<40}  {}",
            split.task,
            split.split.name(),
            split.examples,
            split.skipped.len(),
            token_lengths(split),
            file.display(),
            labels(&split.labels)
        );
    }
    for split in &stats.splits {
        if let Some(note) = &split.note {
            println!("note: {} {}: {note}", split.task, split.split);
        }
        for skipped in &split.skipped {
            println!("skipped {skipped}");
        }
    }
    for missing in &stats.missing {
        println!("missing: {} {}: {}", missing.task, missing.split, missing.message);
    }
}

fn token_lengths(split: &SplitStats) -> String {
    match &split.token_lengths {
        Some(l) => format!("{}/{}/{}/{}", l.p50, l.p90, l.p99, l.max),
        None => "-".to_string(),
    }
}

fn labels(labels: &LabelStats) -> String {
    match labels {
        LabelStats::Unlabelled => "(no labels)".to_string(),
        LabelStats::Classes { counts } => counts
            .iter()
            .enumerate()
            .map(|(class, count)| format!("{class}:{count}"))
            .collect::<Vec<_>>()
            .join(" "),
        LabelStats::Scores { mean, bins, .. } => {
            let bins = bins
                .iter()
                .map(|b| format!("{}-{}:{}", b.low, b.high, b.count))
                .collect::<Vec<_>>();
            format!("mean {mean:.3}; {}", bins.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        data: DataArgs,
    }

    #[test]
    fn parses_the_stats_flags() {
        let cli = Cli::try_parse_from([
            "data",
            "stats",
            "--quora-train",
            "partial",
            "--json",
            "s.json",
            "--no-tokens",
        ])
        .unwrap();
        let DataCommand::Stats(args) = cli.data.command;
        assert_eq!(args.quora_train, QuoraTrain::Partial);
        assert_eq!(args.json.as_deref(), Some(std::path::Path::new("s.json")));
        assert!(args.no_tokens);
        assert!(Cli::try_parse_from(["data", "stats", "--quora-train", "most"]).is_err());
    }

    #[test]
    fn writes_json_for_every_split() {
        let out = tempfile::tempdir().unwrap();
        let json = out.path().join("stats.json");
        let args = StatsArgs {
            data_dir: Some(minbert_testkit::data_dir()),
            quora_train: QuoraTrain::Auto,
            tasks: vec![],
            max_len: 512,
            no_tokens: false,
            json: Some(json.clone()),
            model: ModelArgs {
                model: Some(minbert_testkit::model_dir().display().to_string()),
            },
        };
        run(DataArgs {
            command: DataCommand::Stats(args),
        })
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(value["splits"].as_array().unwrap().len(), 8);
        let sst_train = &value["splits"][0];
        assert_eq!(
            (sst_train["task"].as_str(), sst_train["split"].as_str()),
            (Some("sst"), Some("train"))
        );
        assert_eq!(sst_train["examples"], 8544);
        assert!(sst_train["token_lengths"]["p99"].as_u64().unwrap() > 0);
        assert_eq!(value["missing"][0]["task"], "para");
    }
}
