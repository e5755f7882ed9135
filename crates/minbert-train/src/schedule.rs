//! What the trainer does when: the order of tasks within an epoch, each task's stream of
//! batches across passes, and the learning rate of each optimizer step. Everything here is a
//! pure function of the seed and counters, so a resumed run recomputes it exactly.

use minbert_data::sample::{TASK_ORDER, below, rng};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::RngCore;
use serde::{Deserialize, Serialize};

use crate::config::{LrSchedule, TaskSchedule};

/// A uniform float in `[0, 1)` with 53 random bits.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The annealed sampling exponent of epoch `epoch` of `epochs`: 1 at the first epoch, falling
/// linearly to 0.2 at the last (Stickland and Murray, 2019).
pub fn anneal_alpha(epoch: usize, epochs: usize) -> f64 {
    if epochs <= 1 {
        1.0
    } else {
        1.0 - 0.8 * epoch as f64 / (epochs - 1) as f64
    }
}

/// The task (an index into `batches`) of each training batch of epoch `epoch`. `batches[i]` is
/// the number of batches in one pass over task `i`; an epoch has their sum of batches.
///
/// - sequential: a full pass over each task in turn;
/// - round-robin: one batch per task in turn, a task that has had its pass sitting out;
/// - proportional: every task exactly its pass, in a random order (so tasks are drawn in
///   proportion to their sizes);
/// - annealed: each batch's task drawn with probability proportional to `batches[i]^alpha`
///   ([`anneal_alpha`]); a task can get more or less than one pass.
pub fn epoch_tasks(schedule: TaskSchedule, batches: &[usize], epoch: usize, epochs: usize, seed: u64) -> Vec<usize> {
    let total: usize = batches.iter().sum();
    let mut rng = rng(seed, TASK_ORDER, epoch as u64);
    match schedule {
        TaskSchedule::Sequential => batches
            .iter()
            .enumerate()
            .flat_map(|(t, &n)| std::iter::repeat_n(t, n))
            .collect(),
        TaskSchedule::RoundRobin => {
            let mut left = batches.to_vec();
            let mut order = Vec::with_capacity(total);
            while order.len() < total {
                for (t, n) in left.iter_mut().enumerate() {
                    if *n > 0 {
                        *n -= 1;
                        order.push(t);
                    }
                }
            }
            order
        }
        TaskSchedule::Proportional => {
            let mut order: Vec<usize> = batches
                .iter()
                .enumerate()
                .flat_map(|(t, &n)| std::iter::repeat_n(t, n))
                .collect();
            for i in (1..order.len()).rev() {
                let j = below(&mut rng, i as u64 + 1) as usize;
                order.swap(i, j);
            }
            order
        }
        TaskSchedule::Annealed => {
            let alpha = anneal_alpha(epoch, epochs);
            let weights: Vec<f64> = batches.iter().map(|&n| (n as f64).powf(alpha)).collect();
            let sum: f64 = weights.iter().sum();
            (0..total)
                .map(|_| {
                    let mut x = unit(&mut rng) * sum;
                    for (t, w) in weights.iter().enumerate() {
                        if x < *w {
                            return t;
                        }
                        x -= w;
                    }
                    weights.iter().rposition(|&w| w > 0.0).expect("some task has batches")
                })
                .collect()
        }
    }
}

/// Where one task's stream of batches stands: pass `pass` (its own shuffle), next batch `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamPos {
    pub pass: u64,
    pub next: usize,
}

/// The learning rate of optimizer step `step` (0-based) of `total`: linear warmup from
/// `base / warmup` to `base` over `warmup` steps, then `schedule` down to 0 at `total`
/// (Hugging Face's `get_linear_schedule_with_warmup` and cosine counterpart, except that the
/// first warmup step is not wasted at 0).
pub fn learning_rate(schedule: LrSchedule, base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let decay_steps = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / decay_steps).min(1.0);
    match schedule {
        LrSchedule::Constant => base,
        LrSchedule::Linear => base * (1.0 - progress),
        LrSchedule::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

/// Progressive unfreezing: which of `layers` encoder layers train at epoch `epoch`, as the
/// index of the lowest one (`layers` when none do). Epoch 0 trains the heads only; each later
/// epoch thaws `per_epoch` more layers from the top. `None` when everything trains (off, or
/// every layer thawed: then embeddings and pooler train too).
pub fn lowest_thawed_layer(per_epoch: usize, layers: usize, epoch: usize) -> Option<usize> {
    if per_epoch == 0 {
        return None;
    }
    let thawed = per_epoch.saturating_mul(epoch);
    (thawed < layers).then(|| layers - thawed)
}
