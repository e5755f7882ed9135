use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use minbert_data::BertTokenizer;
use serde_json::json;

use crate::model_dir::ModelArgs;
use minbert_task::files::write_json;

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// The text to tokenize.
    #[arg(long)]
    pub text: String,
    /// A second text, encoded as a pair: `[CLS] text [SEP] pair [SEP]`.
    #[arg(long)]
    pub text_pair: Option<String>,
    /// Truncate to this many tokens in all (longest first for pairs).
    #[arg(long, default_value_t = 512)]
    pub max_len: usize,
    /// Also write `{input_ids, token_type_ids, attention_mask, tokens}` to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: TokenizeArgs) -> Result<()> {
    let dir = args.model.resolve()?.dir;
    let tokenizer = BertTokenizer::from_dir(&dir)?.with_max_len(args.max_len)?;
    let enc = tokenizer.encode(&args.text, args.text_pair.as_deref())?;
    print!("{enc}");
    println!(
        "{} tokens (max_len {}), tokenizer {}",
        enc.len(),
        args.max_len,
        tokenizer.source().display()
    );
    if let Some(path) = &args.json {
        let value = json!({
            "input_ids": enc.input_ids,
            "token_type_ids": enc.token_type_ids,
            "attention_mask": vec![1; enc.len()],
            "tokens": enc.tokens,
        });
        write_json(path, &value).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
