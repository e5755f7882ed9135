//! Running the encoder over token ids held on the host: every output (last hidden state, pooler
//! output, each hidden state) gathered batch by batch, to print or write as safetensors.

use std::fmt;
use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::{BertConfig, BertInput, BertModel, HfTensor, ModelError, save_safetensors};

/// Token ids on the host, `[batch, seq]` row-major each.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// Examples.
    pub batch: usize,
    /// Positions per example.
    pub seq: usize,
    /// Vocabulary ids.
    pub input_ids: Vec<i64>,
    /// 1 on tokens, 0 on padding.
    pub attention_mask: Vec<i64>,
    /// Segment ids (0, or 1 for a pair's second text).
    pub token_type_ids: Vec<i64>,
}

impl TokenBatch {
    /// One example, every token attended (as a tokenizer encodes a text).
    pub fn single(input_ids: &[u32], token_type_ids: &[u32]) -> Self {
        let ints = |v: &[u32]| v.iter().map(|&i| i as i64).collect();
        Self {
            batch: 1,
            seq: input_ids.len(),
            input_ids: ints(input_ids),
            attention_mask: vec![1; input_ids.len()],
            token_type_ids: ints(token_type_ids),
        }
    }

    /// Reads and checks an input file: int64 (or int32) `[batch, seq]` tensors `input_ids` and
    /// optionally `attention_mask` (default all ones) and `token_type_ids` (default zeros) of
    /// one shape, ids inside the vocabulary, token types inside `type_vocab_size`, a 0/1 mask,
    /// seq within the position embeddings. Every problem names the file and the key.
    pub fn read_safetensors(path: &Path, config: &BertConfig) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::InputRead {
            path: path.to_path_buf(),
            source,
        })?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let input = InputFile { path, file };
        let Some((shape, input_ids)) = input.ints("input_ids")? else {
            return Err(input.error("missing key \"input_ids\" (int64 [batch, seq])".into()));
        };
        let ids = Self {
            batch: shape[0],
            seq: shape[1],
            attention_mask: input.same_shape("attention_mask", &shape, 1)?,
            token_type_ids: input.same_shape("token_type_ids", &shape, 0)?,
            input_ids,
        };
        ids.check(&input, config)?;
        Ok(ids)
    }

    fn check(&self, input: &InputFile, config: &BertConfig) -> Result<(), ModelError> {
        let in_range = |key: &str, values: &[i64], limit: usize, expected: String| match values
            .iter()
            .position(|v| *v < 0 || *v as usize >= limit)
        {
            Some(i) => Err(input.error(format!(
                "key \"{key}\" has {} at [{}, {}], expected {expected}",
                values[i],
                i / self.seq,
                i % self.seq
            ))),
            None => Ok(()),
        };
        let (vocab, types) = (config.vocab_size, config.type_vocab_size);
        in_range("input_ids", &self.input_ids, vocab, format!("an id in 0..{vocab}"))?;
        in_range(
            "token_type_ids",
            &self.token_type_ids,
            types,
            format!("a type in 0..{types}"),
        )?;
        in_range("attention_mask", &self.attention_mask, 2, "0 or 1".into())?;
        if self.seq > config.max_position_embeddings {
            return Err(input.error(format!(
                "key \"input_ids\" has {} positions, the model allows at most {}",
                self.seq, config.max_position_embeddings
            )));
        }
        Ok(())
    }

    /// Examples `start..end` as a model input on `device`.
    pub fn rows(&self, start: usize, end: usize, device: &Device) -> BertInput {
        let take = |v: &[i64]| {
            let data = TensorData::new(v[start * self.seq..end * self.seq].to_vec(), [end - start, self.seq]);
            Tensor::<2, Int>::from_data(data, device)
        };
        BertInput {
            input_ids: take(&self.input_ids),
            attention_mask: take(&self.attention_mask),
            token_type_ids: take(&self.token_type_ids),
        }
    }
}

/// An int tensor read from a file: shape and values.
type IntTensor = (Vec<usize>, Vec<i64>);

/// An input safetensors file being read, for messages that name it.
struct InputFile<'a> {
    path: &'a Path,
    file: SafeTensors<'a>,
}

impl InputFile<'_> {
    fn error(&self, message: String) -> ModelError {
        ModelError::Input {
            path: self.path.to_path_buf(),
            message,
        }
    }

    /// The int tensor `key` as `(shape, values)`, `None` where the file has no such key.
    fn ints(&self, key: &str) -> Result<Option<IntTensor>, ModelError> {
        let view = match self.file.tensor(key) {
            Ok(v) => v,
            Err(safetensors::SafeTensorError::TensorNotFound(_)) => return Ok(None),
            Err(e) => return Err(self.error(format!("key \"{key}\": {e}"))),
        };
        let values: Vec<i64> = match view.dtype() {
            Dtype::I64 => view
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            Dtype::I32 => view
                .data()
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as i64)
                .collect(),
            other => return Err(self.error(format!("key \"{key}\" has dtype {other:?}, expected I64 (or I32)"))),
        };
        if view.shape().len() != 2 || view.shape().contains(&0) {
            return Err(self.error(format!(
                "key \"{key}\" has shape {:?}, expected [batch, seq] with both at least 1",
                view.shape()
            )));
        }
        Ok(Some((view.shape().to_vec(), values)))
    }

    /// The tensor `key`, of `shape` like input_ids, or `default` everywhere where it is absent.
    fn same_shape(&self, key: &str, shape: &[usize], default: i64) -> Result<Vec<i64>, ModelError> {
        match self.ints(key)? {
            Some((s, values)) if s == shape => Ok(values),
            Some((s, _)) => Err(self.error(format!("key \"{key}\" has shape {s:?}, but input_ids has {shape:?}"))),
            None => Ok(vec![default; shape.iter().product()]),
        }
    }
}

/// How [`embed`] runs.
#[derive(Debug, Clone, Copy)]
pub struct EmbedOptions {
    /// Examples per forward pass, at least 1.
    pub batch_size: usize,
}

/// The encoder's outputs for every example, in f32 on the host.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// `[batch, seq, hidden]`.
    pub last_hidden_state: HfTensor,
    /// `[batch, hidden]`; `None` for a checkpoint without pooler weights.
    pub pooler_output: Option<HfTensor>,
    /// The embedding output, then each layer's, `[batch, seq, hidden]` each.
    pub hidden_states: Vec<HfTensor>,
}

impl Embeddings {
    /// Writes `last_hidden_state`, `pooler_output` (where there is one) and `hidden_state_{i}`.
    pub fn write_safetensors(&self, path: &Path) -> Result<(), ModelError> {
        let mut tensors = vec![self.last_hidden_state.clone()];
        tensors.extend(self.pooler_output.clone());
        tensors.extend(self.hidden_states.iter().cloned());
        save_safetensors(path, &tensors)
    }
}

/// Runs `model` (with its adapters, if any) over `tokens`, `options.batch_size` examples at a
/// time; the outputs are those of one forward pass over all of them.
pub fn embed(
    model: &BertModel,
    tokens: &TokenBatch,
    options: EmbedOptions,
    device: &Device,
) -> Result<Embeddings, ModelError> {
    if options.batch_size == 0 {
        return Err(ModelError::BatchSize);
    }
    let mut all: Option<Embeddings> = None;
    for start in (0..tokens.batch).step_by(options.batch_size) {
        let end = (start + options.batch_size).min(tokens.batch);
        let out = model.forward_with_hidden_states(tokens.rows(start, end, device));
        let part = Embeddings {
            last_hidden_state: HfTensor::new("last_hidden_state", out.last_hidden_state),
            pooler_output: out.pooler_output.map(|p| HfTensor::new("pooler_output", p)),
            hidden_states: (out.hidden_states.into_iter().enumerate())
                .map(|(i, h)| HfTensor::new(format!("hidden_state_{i}"), h))
                .collect(),
        };
        all = Some(match all {
            None => part,
            Some(all) => all.append(part),
        });
    }
    Ok(all.expect("an input has at least one example"))
}

/// What `minbert embed` prints: the shapes, and the first values of the first examples' [CLS]
/// vectors.
impl fmt::Display for Embeddings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = &self.last_hidden_state;
        let pooler = match self.pooler_output {
            Some(_) => "yes",
            None => "none in this checkpoint",
        };
        let layers = self.hidden_states.len();
        writeln!(
            f,
            "last_hidden_state {:?}, {layers} hidden states, pooler {pooler}",
            last.shape
        )?;
        let example = last.shape[1] * last.shape[2];
        for b in 0..last.shape[0].min(8) {
            writeln!(f, "  example {b}: [CLS] {:.4?} ...", &last.values[b * example..][..6])?;
        }
        Ok(())
    }
}

impl Embeddings {
    /// These outputs followed by `next`'s, along the batch dimension.
    fn append(mut self, next: Embeddings) -> Self {
        concat(&mut self.last_hidden_state, next.last_hidden_state);
        if let (Some(pooled), Some(next)) = (&mut self.pooler_output, next.pooler_output) {
            concat(pooled, next);
        }
        for (h, next) in self.hidden_states.iter_mut().zip(next.hidden_states) {
            concat(h, next);
        }
        self
    }
}

fn concat(tensor: &mut HfTensor, next: HfTensor) {
    tensor.shape[0] += next.shape[0];
    tensor.values.extend(next.values);
}
