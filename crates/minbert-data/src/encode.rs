//! Turning a [`Dataset`] into token ids.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::example::{Dataset, Label, TaskKind};
use crate::tokenizer::{BertTokenizer, Encoded};

/// How a sentence pair becomes model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairMode {
    /// `[CLS] a [SEP] b [SEP]`, token types 0 then 1, truncated longest first.
    #[default]
    Joint,
    /// Each sentence encoded alone (`[CLS] a [SEP]`, `[CLS] b [SEP]`), for pair features such
    /// as cosine similarity of two embeddings.
    Separate,
}

/// One encoded sequence, unpadded, special tokens included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIds {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
}

impl TokenIds {
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }
}

impl From<Encoded> for TokenIds {
    fn from(encoded: Encoded) -> Self {
        TokenIds {
            input_ids: encoded.input_ids,
            token_type_ids: encoded.token_type_ids,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EncodedExample {
    pub id: String,
    /// The text, or the joint pair.
    pub first: TokenIds,
    /// The second sentence, in [`PairMode::Separate`] only.
    pub second: Option<TokenIds>,
    pub label: Option<Label>,
}

impl EncodedExample {
    /// The longest side: what padding and length bucketing go by.
    pub fn len(&self) -> usize {
        self.first.len().max(self.second.as_ref().map_or(0, TokenIds::len))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dataset ready for batching.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedDataset {
    pub task: String,
    pub kind: TaskKind,
    /// `Separate` only for pair tasks encoded that way.
    pub pair_mode: PairMode,
    pub pad_id: u32,
    pub examples: Vec<EncodedExample>,
}

impl EncodedDataset {
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    pub fn lengths(&self) -> Vec<usize> {
        self.examples.iter().map(EncodedExample::len).collect()
    }
}

/// Encodes every example with `tokenizer` (truncated to its `max_len`). `pair_mode` applies to
/// pair tasks; single texts are always `[CLS] text [SEP]`.
pub fn encode_dataset(dataset: &Dataset, tokenizer: &BertTokenizer, pair_mode: PairMode) -> Result<EncodedDataset> {
    let pair_mode = if dataset.paired { pair_mode } else { PairMode::Joint };
    let examples = dataset
        .examples
        .iter()
        .map(|example| {
            let encode = |text: &str, pair: Option<&str>| {
                tokenizer
                    .encode(text, pair)
                    .map(TokenIds::from)
                    .map_err(|source| DataError::Tokenize {
                        path: dataset.path.clone(),
                        line: example.line,
                        id: example.id.clone(),
                        source,
                    })
            };
            let pair = example.text_pair.as_deref();
            let (first, second) = match pair_mode {
                PairMode::Joint => (encode(&example.text, pair)?, None),
                PairMode::Separate => (encode(&example.text, None)?, pair.map(|p| encode(p, None)).transpose()?),
            };
            Ok(EncodedExample {
                id: example.id.clone(),
                first,
                second,
                label: example.label,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EncodedDataset {
        task: dataset.task.clone(),
        kind: dataset.kind,
        pair_mode,
        pad_id: tokenizer.pad_id(),
        examples,
    })
}
