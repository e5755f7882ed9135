//! `minbert embed`: minbert-model's `embed` on a text or a file of token ids.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use minbert_data::BertTokenizer;
use minbert_model::{EmbedOptions, TokenBatch, embed, load_pretrained};

use crate::adapter_dir::AdapterArgs;
use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["text", "input"]))]
pub struct EmbedArgs {
    /// A text to encode.
    #[arg(long)]
    pub text: Option<String>,
    /// A second text, encoded with `--text` as a pair.
    #[arg(long, requires = "text")]
    pub text_pair: Option<String>,
    /// Truncation for `--text` (longest first for pairs).
    #[arg(long, default_value_t = 512)]
    pub max_len: usize,
    /// A safetensors file with int64 `input_ids` `[batch, seq]` and optionally
    /// `attention_mask` (default all ones) and `token_type_ids` (default zeros).
    #[arg(long, value_name = "IN.safetensors")]
    pub input: Option<PathBuf>,
    /// Write `last_hidden_state`, `pooler_output` and `hidden_state_{i}` (f32) here.
    #[arg(long, value_name = "OUT.safetensors")]
    pub out: Option<PathBuf>,
    /// Examples per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub adapter: AdapterArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: EmbedArgs) -> Result<()> {
    let dir = args.model.resolve()?.dir;
    let device = args.device.device()?;
    let (config, mut model) =
        load_pretrained(&dir, &device).with_context(|| format!("loading model {}", dir.display()))?;
    if let Some(adapter) = args.adapter.apply(&mut model)? {
        println!("adapter {}: {}", adapter.dir.display(), adapter.summary());
    }
    let tokens = match (&args.text, &args.input) {
        (Some(text), _) => {
            let max_len = args.max_len.min(config.max_position_embeddings);
            let enc = BertTokenizer::from_dir(&dir)?
                .with_max_len(max_len)?
                .encode(text, args.text_pair.as_deref())?;
            TokenBatch::single(&enc.input_ids, &enc.token_type_ids)
        }
        (None, Some(path)) => TokenBatch::read_safetensors(path, &config)?,
        (None, None) => unreachable!("clap requires --text or --input"),
    };
    let out = embed(
        &model,
        &tokens,
        EmbedOptions {
            batch_size: args.batch_size,
        },
        &device,
    )?;
    print!("{out}");
    if let Some(path) = &args.out {
        out.write_safetensors(path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
