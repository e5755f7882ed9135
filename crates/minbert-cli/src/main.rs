//! `minbert`: one subcommand per pipeline stage. See `minbert --help`.

mod adapter_dir;
mod backend;
mod commands;
mod model_dir;
mod out_dir;
mod scoring;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "minbert",
    version,
    about = "Fine-tune, evaluate and benchmark small BERT encoders with LoRA and DoRA"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tokenize a text or a text pair: ids, tokens, token types.
    Tokenize(commands::tokenize::TokenizeArgs),
    /// Run the encoder: last hidden state, pooler output, every hidden state.
    Embed(commands::embed::EmbedArgs),
    /// Architecture and parameter counts of a model.
    Info(commands::info::InfoArgs),
    /// Inspect the task data: counts, skipped rows, labels, token lengths.
    Data(commands::data::DataArgs),
    /// Fine-tune on SST, Quora and STS at once (heads, full, LoRA or DoRA) from a TOML config.
    Train(commands::train::TrainArgs),
    /// The course's scores of a checkpoint on dev: a table, and JSON with --json.
    Eval(commands::eval::EvalArgs),
    /// The course's prediction files of a checkpoint for dev or test.
    Predict(commands::predict::PredictArgs),
    /// Combine checkpoints by averaging their predictions; greedy member selection on dev.
    Ensemble(commands::ensemble::EnsembleArgs),
    /// A model with a PEFT adapter, or a checkpoint's encoder, as a merged Hugging Face checkpoint or a PEFT adapter.
    Export(commands::export::ExportArgs),
    /// The benchmark of docs/BENCHMARKS.md (same workload and JSON as the PyTorch reference).
    Bench(commands::bench::BenchArgs),
    /// Markdown table and plots of training runs.
    Report(commands::report::ReportArgs),
    /// Work on PEFT adapter directories: `merge` combines several into one.
    Adapters(commands::adapters::AdaptersArgs),
}

fn main() -> ExitCode {
    minbert_device::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tokenize(args) => commands::tokenize::run(args),
        Command::Embed(args) => commands::embed::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Data(args) => commands::data::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Ensemble(args) => commands::ensemble::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Adapters(args) => commands::adapters::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line. A library error that already shows its cause (`{path}:
/// {source}`) is not followed by that cause again.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain().map(ToString::to_string) {
        if !line.contains(&cause) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&cause);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_cause_already_shown_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::NotADirectory);
        let shown = format!("runs/x: {io}");
        let err = anyhow::Error::new(io)
            .context(shown.clone())
            .context("training run runs/x");
        assert_eq!(err.chain().count(), 3);
        assert_eq!(one_line(&err), format!("training run runs/x: {shown}"));
    }
}
