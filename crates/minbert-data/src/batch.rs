//! Batching in two steps, so the first can be tested without tensors:
//! [`plan_batches`] orders example indices into batches (seeded shuffling, optional length
//! bucketing), [`EncodedDataset::pad`] pads one batch to its longest sequence as plain vectors,
//! and [`PaddedBatch::to_device`] turns that into Burn tensors.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::encode::{EncodedDataset, EncodedExample, TokenIds};
use crate::error::{DataError, Result};
use crate::example::{Label, TaskKind};

/// Batches per bucketing chunk when none is given: sorting by length within 50 batches' worth
/// of shuffled examples removes most padding and keeps batches varied.
pub const DEFAULT_BUCKET_BATCHES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    pub batch_size: usize,
    /// Shuffle examples (and, with bucketing, the batch order) every epoch.
    pub shuffle: bool,
    pub seed: u64,
    /// Length bucketing: sort by length within chunks of this many batches.
    pub bucket_batches: Option<usize>,
}

impl BatchConfig {
    /// Batches in file order, no bucketing: what evaluation wants.
    pub fn new(batch_size: usize) -> Self {
        BatchConfig {
            batch_size,
            shuffle: false,
            seed: 0,
            bucket_batches: None,
        }
    }

    pub fn shuffled(self, seed: u64) -> Self {
        BatchConfig {
            shuffle: true,
            seed,
            ..self
        }
    }

    pub fn bucketed(self, bucket_batches: usize) -> Self {
        BatchConfig {
            bucket_batches: Some(bucket_batches),
            ..self
        }
    }
}

/// Orders the indices `0..lengths.len()` into batches of `batch_size` (the last one may be
/// smaller); every index appears exactly once. With `shuffle`, the order depends only on
/// `seed` and `epoch` (ChaCha8, stream `epoch`), the same on every machine and release.
pub fn plan_batches(lengths: &[usize], config: &BatchConfig, epoch: u64) -> Result<Vec<Vec<usize>>> {
    if config.batch_size == 0 {
        return Err(DataError::Batching {
            key: "batch_size",
            message: "0; expected at least 1".into(),
        });
    }
    if config.bucket_batches == Some(0) {
        return Err(DataError::Batching {
            key: "bucket_batches",
            message: "0; expected at least 1".into(),
        });
    }
    let mut rng = epoch_rng(config.seed, epoch);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    if config.shuffle {
        shuffle(&mut order, &mut rng);
    }
    if let Some(bucket_batches) = config.bucket_batches {
        // A chunk is a whole number of batches, so no batch straddles two chunks and only the
        // last batch can be short.
        let chunk = config.batch_size.saturating_mul(bucket_batches);
        for part in order.chunks_mut(chunk) {
            part.sort_by_key(|&i| lengths[i]);
        }
    }
    let mut batches: Vec<Vec<usize>> = order.chunks(config.batch_size).map(<[usize]>::to_vec).collect();
    if config.shuffle && config.bucket_batches.is_some() {
        shuffle(&mut batches, &mut rng);
    }
    Ok(batches)
}

fn epoch_rng(seed: u64, epoch: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(epoch);
    rng
}

/// Fisher-Yates with Lemire's unbiased bounded integers, written out so the permutation depends
/// on the ChaCha8 stream alone, not on a crate's shuffle algorithm.
fn shuffle<T>(items: &mut [T], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if product as u64 >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// One side of a padded batch, row-major `[batch, seq_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaddedSide {
    pub batch: usize,
    pub seq_len: usize,
    pub input_ids: Vec<i64>,
    /// 1 on tokens, 0 on padding.
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

impl PaddedSide {
    /// Pads to the longest sequence given, not to a fixed `max_len`.
    pub fn pad(sequences: &[&TokenIds], pad_id: u32) -> Self {
        let seq_len = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        let cells = sequences.len() * seq_len;
        let mut side = PaddedSide {
            batch: sequences.len(),
            seq_len,
            input_ids: Vec::with_capacity(cells),
            attention_mask: Vec::with_capacity(cells),
            token_type_ids: Vec::with_capacity(cells),
        };
        for sequence in sequences {
            let padding = seq_len - sequence.len();
            side.input_ids
                .extend(sequence.input_ids.iter().map(|&id| i64::from(id)));
            side.input_ids.extend(std::iter::repeat_n(i64::from(pad_id), padding));
            side.attention_mask.extend(std::iter::repeat_n(1, sequence.len()));
            side.attention_mask.extend(std::iter::repeat_n(0, padding));
            side.token_type_ids
                .extend(sequence.token_type_ids.iter().map(|&t| i64::from(t)));
            side.token_type_ids.extend(std::iter::repeat_n(0, padding));
        }
        side
    }

    pub fn to_device(&self, device: &Device) -> TensorSide {
        let shape = [self.batch, self.seq_len];
        let int = |values: &Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(values.clone(), shape), device);
        TensorSide {
            input_ids: int(&self.input_ids),
            attention_mask: int(&self.attention_mask),
            token_type_ids: int(&self.token_type_ids),
        }
    }
}

/// Labels of a batch: class indices (binary as 0/1) or scores.
#[derive(Debug, Clone, PartialEq)]
pub enum PaddedLabels {
    Classes(Vec<i64>),
    Scores(Vec<f32>),
}

/// A batch padded to its longest sequence, as plain vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct PaddedBatch {
    /// Example ids in batch order, for prediction files.
    pub ids: Vec<String>,
    pub first: PaddedSide,
    /// The second sentences in [`PairMode::Separate`](crate::PairMode::Separate).
    pub second: Option<PaddedSide>,
    /// `None` when any example has no label (test files).
    pub labels: Option<PaddedLabels>,
}

impl PaddedBatch {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn to_device(&self, device: &Device) -> Batch {
        let labels = self.labels.as_ref().map(|labels| match labels {
            PaddedLabels::Classes(classes) => BatchLabels::Classes(Tensor::<1, Int>::from_data(
                TensorData::new(classes.clone(), [classes.len()]),
                device,
            )),
            PaddedLabels::Scores(scores) => BatchLabels::Scores(Tensor::<1>::from_data(
                TensorData::new(scores.clone(), [scores.len()]),
                device,
            )),
        });
        Batch {
            ids: self.ids.clone(),
            first: self.first.to_device(device),
            second: self.second.as_ref().map(|side| side.to_device(device)),
            labels,
        }
    }
}

/// One side of a batch as Int tensors `[batch, seq]`.
#[derive(Debug, Clone)]
pub struct TensorSide {
    pub input_ids: Tensor<2, Int>,
    pub attention_mask: Tensor<2, Int>,
    pub token_type_ids: Tensor<2, Int>,
}

#[derive(Debug, Clone)]
pub enum BatchLabels {
    /// `[batch]` class indices; 0/1 for binary tasks.
    Classes(Tensor<1, Int>),
    /// `[batch]` regression targets.
    Scores(Tensor<1>),
}

/// A batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    pub ids: Vec<String>,
    pub first: TensorSide,
    pub second: Option<TensorSide>,
    pub labels: Option<BatchLabels>,
}

impl EncodedDataset {
    /// Plans one epoch's batches over this dataset (see [`plan_batches`]).
    pub fn plan(&self, config: &BatchConfig, epoch: u64) -> Result<Vec<Vec<usize>>> {
        plan_batches(&self.lengths(), config, epoch)
    }

    /// Pads the examples at `indices` into a batch.
    ///
    /// # Panics
    /// If an index is out of range (indices come from [`plan`](Self::plan)).
    pub fn pad(&self, indices: &[usize]) -> PaddedBatch {
        let examples: Vec<&EncodedExample> = indices.iter().map(|&i| &self.examples[i]).collect();
        let firsts: Vec<&TokenIds> = examples.iter().map(|e| &e.first).collect();
        let seconds: Option<Vec<&TokenIds>> = examples.iter().map(|e| e.second.as_ref()).collect();
        let labels: Option<Vec<Label>> = examples.iter().map(|e| e.label).collect();
        PaddedBatch {
            ids: examples.iter().map(|e| e.id.clone()).collect(),
            first: PaddedSide::pad(&firsts, self.pad_id),
            second: seconds
                .filter(|s| !s.is_empty())
                .map(|s| PaddedSide::pad(&s, self.pad_id)),
            labels: labels.filter(|l| !l.is_empty()).map(|labels| match self.kind {
                TaskKind::Regression { .. } => PaddedLabels::Scores(labels.iter().map(Label::as_score).collect()),
                TaskKind::Classification { .. } | TaskKind::Binary => {
                    PaddedLabels::Classes(labels.iter().map(Label::as_class).collect())
                }
            }),
        }
    }

    /// The padded batches of one epoch, in plan order.
    pub fn padded_batches(&self, config: &BatchConfig, epoch: u64) -> Result<impl Iterator<Item = PaddedBatch> + '_> {
        let plan = self.plan(config, epoch)?;
        Ok(plan.into_iter().map(move |indices| self.pad(&indices)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range() {
        let mut rng = epoch_rng(7, 0);
        for n in [1u64, 2, 3, 10, 1 << 40] {
            for _ in 0..100 {
                assert!(below(&mut rng, n) < n);
            }
        }
    }
}
