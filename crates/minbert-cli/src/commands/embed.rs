use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::Args;
use minbert_data::BertTokenizer;
use minbert_model::{BertConfig, BertInput, load_pretrained};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::adapter_dir::AdapterArgs;
use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;
use minbert_task::files::write_atomic;

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

/// Host-side token ids, `[batch, seq]` row-major.
struct TokenBatch {
    batch: usize,
    seq: usize,
    input_ids: Vec<i64>,
    attention_mask: Vec<i64>,
    token_type_ids: Vec<i64>,
}

impl TokenBatch {
    fn rows(&self, start: usize, end: usize, device: &Device) -> BertInput {
        let shape = [end - start, self.seq];
        let take = |v: &[i64]| {
            let data = TensorData::new(v[start * self.seq..end * self.seq].to_vec(), shape);
            Tensor::<2, Int>::from_data(data, device)
        };
        BertInput {
            input_ids: take(&self.input_ids),
            attention_mask: take(&self.attention_mask),
            token_type_ids: take(&self.token_type_ids),
        }
    }
}

pub fn run(args: EmbedArgs) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let dir = args.model.resolve()?.dir;
    let device = args.device.device()?;
    let (config, mut model) =
        load_pretrained(&dir, &device).with_context(|| format!("loading model {}", dir.display()))?;
    if let Some(adapter) = args.adapter.apply(&mut model)? {
        println!("adapter {}: {}", adapter.dir.display(), adapter.summary());
    }

    let tokens = match (&args.text, &args.input) {
        (Some(text), _) => {
            let tokenizer =
                BertTokenizer::from_dir(&dir)?.with_max_len(args.max_len.min(config.max_position_embeddings))?;
            let enc = tokenizer.encode(text, args.text_pair.as_deref())?;
            TokenBatch {
                batch: 1,
                seq: enc.len(),
                input_ids: enc.input_ids.iter().map(|&i| i as i64).collect(),
                attention_mask: vec![1; enc.len()],
                token_type_ids: enc.token_type_ids.iter().map(|&i| i as i64).collect(),
            }
        }
        (None, Some(path)) => read_input(path, &config)?,
        (None, None) => unreachable!("clap requires --text or --input"),
    };

    // Outputs gathered on the host, batch by batch, under their file names.
    let mut outputs: BTreeMap<String, (Vec<usize>, Vec<f32>)> = BTreeMap::new();
    let mut append = |name: String, tensor_dims: Vec<usize>, values: Vec<f32>| {
        let entry = outputs.entry(name).or_insert_with(|| (tensor_dims.clone(), Vec::new()));
        if entry.1.is_empty() {
            entry.0 = tensor_dims;
        } else {
            entry.0[0] += tensor_dims[0];
        }
        entry.1.extend(values);
    };
    let to_vec = |t: burn::tensor::TensorData| {
        t.try_into_vec_as::<f32>()
            .map_err(|e| anyhow::anyhow!("reading an output back: {e:?}"))
    };
    for start in (0..tokens.batch).step_by(args.batch_size) {
        let end = (start + args.batch_size).min(tokens.batch);
        let out = model.forward_with_hidden_states(tokens.rows(start, end, &device));
        append(
            "last_hidden_state".into(),
            out.last_hidden_state.dims().to_vec(),
            to_vec(out.last_hidden_state.into_data())?,
        );
        if let Some(pooled) = out.pooler_output {
            append(
                "pooler_output".into(),
                pooled.dims().to_vec(),
                to_vec(pooled.into_data())?,
            );
        }
        for (i, h) in out.hidden_states.into_iter().enumerate() {
            append(format!("hidden_state_{i}"), h.dims().to_vec(), to_vec(h.into_data())?);
        }
    }

    let (shape, last) = &outputs["last_hidden_state"];
    println!(
        "last_hidden_state {shape:?}, {} hidden states, pooler {}",
        config.num_hidden_layers + 1,
        if outputs.contains_key("pooler_output") {
            "yes"
        } else {
            "none in this checkpoint"
        }
    );
    let width = shape[2];
    for b in 0..tokens.batch.min(8) {
        let cls = &last[b * tokens.seq * width..b * tokens.seq * width + 6];
        println!("  example {b}: [CLS] {cls:.4?} ...");
    }
    if let Some(path) = &args.out {
        write_outputs(path, &outputs)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn write_outputs(path: &Path, outputs: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Result<()> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = outputs
        .iter()
        .map(|(name, (shape, values))| {
            (
                name.clone(),
                shape.clone(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| Ok((name.as_str(), TensorView::new(Dtype::F32, shape.clone(), data)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let serialized = safetensors::serialize(views, None).with_context(|| format!("serializing {}", path.display()))?;
    Ok(write_atomic(path, &serialized)?)
}

/// Reads and checks an input file: int64 (or int32) `[batch, seq]` tensors of one shape, ids
/// inside the vocabulary, token types inside `type_vocab_size`, a 0/1 mask, seq within the
/// position embeddings. Every problem names the file and the key.
fn read_input(path: &Path, config: &BertConfig) -> Result<TokenBatch> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read input {}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a valid safetensors file", path.display()))?;
    let read = |key: &str| -> Result<Option<(Vec<usize>, Vec<i64>)>> {
        let view = match st.tensor(key) {
            Ok(v) => v,
            Err(safetensors::SafeTensorError::TensorNotFound(_)) => return Ok(None),
            Err(e) => bail!("{}: key \"{key}\": {e}", path.display()),
        };
        let values: Vec<i64> = match view.dtype() {
            Dtype::I64 => view
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            Dtype::I32 => view
                .data()
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as i64)
                .collect(),
            other => bail!(
                "{}: key \"{key}\" has dtype {other:?}, expected I64 (or I32)",
                path.display()
            ),
        };
        if view.shape().len() != 2 || view.shape().contains(&0) {
            bail!(
                "{}: key \"{key}\" has shape {:?}, expected [batch, seq] with both at least 1",
                path.display(),
                view.shape()
            );
        }
        Ok(Some((view.shape().to_vec(), values)))
    };
    let Some((shape, input_ids)) = read("input_ids")? else {
        bail!("{}: missing key \"input_ids\" (int64 [batch, seq])", path.display());
    };
    let (batch, seq) = (shape[0], shape[1]);
    let same_shape = |key: &str, default: i64| -> Result<Vec<i64>> {
        match read(key)? {
            Some((s, values)) if s == shape => Ok(values),
            Some((s, _)) => bail!(
                "{}: key \"{key}\" has shape {s:?}, but input_ids has {shape:?}",
                path.display()
            ),
            None => Ok(vec![default; batch * seq]),
        }
    };
    let attention_mask = same_shape("attention_mask", 1)?;
    let token_type_ids = same_shape("token_type_ids", 0)?;
    let check = |key: &str, values: &[i64], limit: usize, expected: &str| -> Result<()> {
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| **v < 0 || **v as usize >= limit)
        {
            bail!(
                "{}: key \"{key}\" has {v} at [{}, {}], expected {expected}",
                path.display(),
                i / seq,
                i % seq
            );
        }
        Ok(())
    };
    check(
        "input_ids",
        &input_ids,
        config.vocab_size,
        &format!("an id in 0..{}", config.vocab_size),
    )?;
    check(
        "token_type_ids",
        &token_type_ids,
        config.type_vocab_size,
        &format!("a type in 0..{}", config.type_vocab_size),
    )?;
    check("attention_mask", &attention_mask, 2, "0 or 1")?;
    if seq > config.max_position_embeddings {
        bail!(
            "{}: key \"input_ids\" has {seq} positions, the model allows at most {}",
            path.display(),
            config.max_position_embeddings
        );
    }
    Ok(TokenBatch {
        batch,
        seq,
        input_ids,
        attention_mask,
        token_type_ids,
    })
}
