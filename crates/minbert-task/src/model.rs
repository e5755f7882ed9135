//! The multitask model: one or two BERT encoders and a head per task.
//!
//! Sentences become vectors by pooling (BERT's pooler, `[CLS]`, or the mean over real tokens).
//! Sentence pairs are either one joint sequence (`[CLS] a [SEP] b [SEP]`, pooled like a single
//! sentence) or two separate ones whose embeddings `u`, `v` give the head the features
//! `[u, v, |u - v|, u * v, cos(u, v)]`; a `cosine` head is `cos(u, v)` itself.
//!
//! Heads return raw outputs: SST logits `[batch, 5]`; for Quora a logit (or a cosine)
//! `[batch, 1]`; for STS a score (or a cosine) `[batch, 1]`. [`MultitaskModel::predict`] maps
//! them to the course's labels.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{DType, Device, Int, Tensor};
use minbert_data::{Batch, CourseTask, PairMode, TensorSide};
use minbert_model::{BertInput, BertModel};
use serde::{Deserialize, Serialize};

use crate::spec::{HeadKind, Loss, Pooling};

/// The shape of a multitask model beyond its weights: what `meta.json` records and
/// [`load_checkpoint`](crate::checkpoint::load_checkpoint) rebuilds from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub pooling: Pooling,
    pub encoders: usize,
    pub hidden_size: usize,
    /// Width of the hidden layer of `mlp` heads.
    pub mlp_hidden: usize,
    pub head_dropout: f64,
    pub tasks: Vec<TaskSpec>,
}

/// One task's head and input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub task: CourseTask,
    pub head: HeadKind,
    pub pair: PairMode,
    /// The encoder that serves this task.
    pub encoder: usize,
    /// The loss it was trained with; decides how a cosine becomes a prediction.
    pub loss: Loss,
    /// Contrastive margin: a cosine head calls a pair a paraphrase above `1 - margin / 2`.
    pub margin: f64,
}

impl ModelSpec {
    pub fn task(&self, task: CourseTask) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.task == task)
    }

    /// Width of the head's input: one embedding, or the five pair features.
    fn head_input(&self, spec: &TaskSpec) -> usize {
        match spec.pair {
            PairMode::Joint => self.hidden_size,
            PairMode::Separate => 4 * self.hidden_size + 1,
        }
    }
}

/// Outputs per task: SST has 5 classes, the others one value.
pub fn num_outputs(task: CourseTask) -> usize {
    if task == CourseTask::Sst { 5 } else { 1 }
}

/// A task head: dropout, (`mlp`: linear, GELU, dropout,) linear. A `cosine` head has no layers.
#[derive(Module, Debug)]
pub struct Head {
    pub dense: Option<Linear>,
    pub out: Option<Linear>,
    pub dropout: Dropout,
}

impl Head {
    pub fn new(kind: HeadKind, d_in: usize, d_hidden: usize, d_out: usize, dropout: f64, device: &Device) -> Self {
        let (dense, out) = match kind {
            HeadKind::Linear => (None, Some(LinearConfig::new(d_in, d_out).init(device))),
            HeadKind::Mlp => (
                Some(LinearConfig::new(d_in, d_hidden).init(device)),
                Some(LinearConfig::new(d_hidden, d_out).init(device)),
            ),
            HeadKind::Cosine => (None, None),
        };
        Self {
            dense,
            out,
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = self.dropout.forward(x);
        if let Some(dense) = &self.dense {
            x = self.dropout.forward(gelu(dense.forward(x)));
        }
        self.out.as_ref().expect("a head with layers").forward(x)
    }
}

/// Encoders and heads. Module paths: `encoders.{i}.…` (the BERT modules), `sst.…`, `para.…`,
/// `sts.…` (the heads).
#[derive(Module, Debug)]
pub struct MultitaskModel {
    pub encoders: Vec<BertModel>,
    pub sst: Option<Head>,
    pub para: Option<Head>,
    pub sts: Option<Head>,
    #[module(skip)]
    pub spec: ModelSpec,
}

/// The heads' module names, also the prefixes of their parameter paths.
pub const HEAD_NAMES: [&str; 3] = ["sst", "para", "sts"];

impl MultitaskModel {
    /// Heads freshly initialised (from the device's RNG: seed it first) on top of `encoders`.
    pub fn new(spec: ModelSpec, encoders: Vec<BertModel>, device: &Device) -> Self {
        assert_eq!(encoders.len(), spec.encoders, "one BertModel per configured encoder");
        let head = |task: CourseTask| {
            spec.task(task).map(|t| {
                Head::new(
                    t.head,
                    spec.head_input(t),
                    spec.mlp_hidden,
                    num_outputs(task),
                    spec.head_dropout,
                    device,
                )
            })
        };
        Self {
            sst: head(CourseTask::Sst),
            para: head(CourseTask::Para),
            sts: head(CourseTask::Sts),
            encoders,
            spec,
        }
    }

    pub fn head(&self, task: CourseTask) -> Option<&Head> {
        match task {
            CourseTask::Sst => self.sst.as_ref(),
            CourseTask::Para => self.para.as_ref(),
            CourseTask::Sts => self.sts.as_ref(),
        }
    }

    pub fn head_mut(&mut self, task: CourseTask) -> Option<&mut Head> {
        match task {
            CourseTask::Sst => self.sst.as_mut(),
            CourseTask::Para => self.para.as_mut(),
            CourseTask::Sts => self.sts.as_mut(),
        }
    }

    /// The raw output of `task` for `batch` (see the module documentation).
    ///
    /// # Panics
    /// If the model has no head for `task`, or a separate-pair task gets a batch without second
    /// sentences (batches come from data encoded with the task's pair mode).
    pub fn forward(&self, task: CourseTask, batch: &Batch) -> Tensor<2> {
        let spec = self
            .spec
            .task(task)
            .unwrap_or_else(|| panic!("the model has no {task} head"));
        let head = self.head(task).expect("a head per task spec");
        let encoder = &self.encoders[spec.encoder];
        match spec.pair {
            PairMode::Joint => head.forward(encode(encoder, &batch.first, self.spec.pooling)),
            PairMode::Separate => {
                let second = batch.second.as_ref().expect("separate pairs have a second side");
                let (u, v) = encode_pair(encoder, &batch.first, second, self.spec.pooling);
                let cos = cosine(u.clone(), v.clone());
                if spec.head == HeadKind::Cosine {
                    return cos;
                }
                let features = Tensor::cat(vec![u.clone(), v.clone(), (u.clone() - v.clone()).abs(), u * v, cos], 1);
                head.forward(features)
            }
        }
    }

    /// The course's predictions from raw outputs of `task`, [`num_outputs`] values per example
    /// (row-major, as [`outputs_to_vec`] reads a `[batch, k]` output).
    pub fn predict(&self, task: CourseTask, values: &[f32]) -> Prediction {
        let spec = self
            .spec
            .task(task)
            .unwrap_or_else(|| panic!("the model has no {task} head"));
        match task {
            CourseTask::Sst => Prediction::Classes(
                values
                    .chunks(5)
                    .map(|row| {
                        row.iter()
                            .enumerate()
                            .fold(
                                (0, f32::NEG_INFINITY),
                                |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                            )
                            .0
                    })
                    .collect(),
            ),
            CourseTask::Para => {
                let threshold = spec.para_threshold() as f32;
                Prediction::Classes(values.iter().map(|&v| usize::from(v > threshold)).collect())
            }
            CourseTask::Sts => {
                let scale = spec.sts_scale() as f32;
                Prediction::Scores(values.iter().map(|&v| f64::from(v * scale)).collect())
            }
        }
    }
}

impl TaskSpec {
    /// The raw Quora output above which a pair is a paraphrase: a logit above 0; a cosine above
    /// the midpoint between the contrastive loss's targets (distance 0 and `margin`).
    pub fn para_threshold(&self) -> f64 {
        if self.head == HeadKind::Cosine {
            1.0 - self.margin / 2.0
        } else {
            0.0
        }
    }

    /// What maps a raw STS output to the 0-5 scale: a cosine is scaled by 5.
    pub fn sts_scale(&self) -> f64 {
        if self.head == HeadKind::Cosine { 5.0 } else { 1.0 }
    }
}

/// The values of a model output (any float dtype) as f32, row-major.
pub fn outputs_to_vec(output: Tensor<2>) -> Vec<f32> {
    output
        .cast(DType::F32)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 outputs read back as f32")
}

/// Predicted labels of one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// SST classes 0-4, Quora 0/1.
    Classes(Vec<usize>),
    /// STS scores (0-5 scale).
    Scores(Vec<f64>),
}

/// The pooled sentence embedding `[batch, hidden]` of one side of a batch.
///
/// It takes the last hidden state rather than `BertModel::forward`, to pool with the mask and
/// skip the pooler when it is not used.
pub fn encode(bert: &BertModel, side: &TensorSide, pooling: Pooling) -> Tensor<2> {
    let dtype = bert.dtype();
    let [batch, _] = side.input_ids.dims();
    let hidden = bert.last_hidden_state(BertInput {
        input_ids: side.input_ids.clone(),
        attention_mask: side.attention_mask.clone(),
        token_type_ids: side.token_type_ids.clone(),
    });
    let width = hidden.dims()[2];
    match pooling {
        Pooling::Pooler => bert
            .pooler
            .as_ref()
            .expect("pooler pooling is checked against the checkpoint")
            .forward(hidden),
        Pooling::Cls => hidden.narrow(1, 0, 1).reshape([batch, width]),
        Pooling::Mean => {
            let mask: Tensor<3> = side.attention_mask.clone().float().cast(dtype).unsqueeze_dim(2);
            let summed = (hidden * mask.clone()).sum_dim(1).reshape([batch, width]);
            summed / mask.sum_dim(1).reshape([batch, 1]).clamp_min(1.0)
        }
    }
}

/// The pooled embeddings `u`, `v` `[batch, hidden]` of both sides of separate pairs, computed
/// as one batch of `2 * batch` sequences (the shorter side padded to the longer): one pass
/// through the encoder instead of two, with larger matrix products. Padding is masked, so the
/// result is [`encode`] of each side, to float rounding.
pub fn encode_pair(
    bert: &BertModel,
    first: &TensorSide,
    second: &TensorSide,
    pooling: Pooling,
) -> (Tensor<2>, Tensor<2>) {
    let [batch, first_len] = first.input_ids.dims();
    let second_len = second.input_ids.dims()[1];
    let seq = first_len.max(second_len);
    // Padding cells are masked out of attention and pooling, so their ids do not matter.
    let widen = |t: &Tensor<2, Int>| {
        let len = t.dims()[1];
        if len == seq {
            t.clone()
        } else {
            Tensor::cat(vec![t.clone(), Tensor::zeros([batch, seq - len], &t.device())], 1)
        }
    };
    let stack = |a: &Tensor<2, Int>, b: &Tensor<2, Int>| Tensor::cat(vec![widen(a), widen(b)], 0);
    let both = TensorSide {
        input_ids: stack(&first.input_ids, &second.input_ids),
        attention_mask: stack(&first.attention_mask, &second.attention_mask),
        token_type_ids: stack(&first.token_type_ids, &second.token_type_ids),
    };
    let pooled = encode(bert, &both, pooling);
    (pooled.clone().narrow(0, 0, batch), pooled.narrow(0, batch, batch))
}

/// Cosine similarity of matching rows, `[batch, 1]`.
pub fn cosine(u: Tensor<2>, v: Tensor<2>) -> Tensor<2> {
    let dot = (u.clone() * v.clone()).sum_dim(1);
    let norms = u.square().sum_dim(1).sqrt() * v.square().sum_dim(1).sqrt();
    dot / norms.clamp_min(1e-8)
}
