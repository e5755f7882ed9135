//! Hugging Face's `BertModel` (post-LayerNorm BERT) in Burn, one module per HF module and the
//! HF names kept, so checkpoints load unchanged and every linear layer has its HF path
//! (`encoder.layer.{i}.attention.self.query`, ...). Every linear layer is a burn-peft
//! [`AdaptedLinear`]: exactly a `Linear` until a LoRA / DoRA adapter is attached by path through
//! [`AdaptableModel`].

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, gelu_approximate, relu, softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType, Device, Int, Tensor};
use burn_peft::{AdaptableModel, AdaptedLinear, merged_linears};

use crate::HfTensor;

use crate::config::{BertConfig, HiddenAct};
use crate::weights::WeightMap;

/// One batch of inputs, `[batch, seq]` each; `attention_mask` is 1 on tokens, 0 on padding.
#[derive(Debug, Clone)]
pub struct BertInput {
    pub input_ids: Tensor<2, Int>,
    pub attention_mask: Tensor<2, Int>,
    pub token_type_ids: Tensor<2, Int>,
}

/// What `BertModel` returns; `hidden_states` (embeddings, then each layer) only when asked.
#[derive(Debug, Clone)]
pub struct BertOutput {
    pub last_hidden_state: Tensor<3>,
    /// `tanh(pooler.dense(h[:, 0]))`; `None` for a checkpoint without pooler weights.
    pub pooler_output: Option<Tensor<2>>,
    pub hidden_states: Vec<Tensor<3>>,
}

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl BertEmbeddings {
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &input_ids.device()).unsqueeze::<2>();
        let x = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(token_type_ids);
        self.dropout.forward(self.layer_norm.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct BertSelfAttention {
    pub query: AdaptedLinear,
    pub key: AdaptedLinear,
    pub value: AdaptedLinear,
    pub dropout: Dropout,
    #[module(skip)]
    num_heads: usize,
}

impl BertSelfAttention {
    pub fn forward(&self, hidden: Tensor<3>, mask: &AttentionMask) -> Tensor<3> {
        let [batch, seq, width] = hidden.dims();
        let head_size = width / self.num_heads;
        let heads = |x: Tensor<3>| x.reshape([batch, seq, self.num_heads, head_size]).swap_dims(1, 2);
        let q = heads(self.query.forward(hidden.clone()));
        let k = heads(self.key.forward(hidden.clone()));
        let v = heads(self.value.forward(hidden));
        let context = match mask {
            AttentionMask::Padding(padding) => {
                attention(q, k, v, Some(padding.clone()), None, AttentionModuleOptions::default())
            }
            AttentionMask::Bias(bias) => {
                // Scaling q before q·k^T touches seq·head_size values per head instead of seq².
                let q = q * (1.0 / (head_size as f64).sqrt());
                let scores = q.matmul(k.swap_dims(2, 3)) + bias.clone();
                self.dropout.forward(softmax(scores, 3)).matmul(v)
            }
        };
        context.swap_dims(1, 2).reshape([batch, seq, width])
    }
}

/// How self-attention masks padding, built once per batch for all layers.
#[derive(Debug, Clone)]
pub enum AttentionMask {
    /// HF's additive mask `[batch, 1, 1, seq]` (0 on tokens, the dtype's minimum on padding),
    /// for the op-by-op attention of a model that can train: attention dropout acts on the
    /// probabilities, which Burn's fused attention op has no place for.
    Bias(Tensor<4>),
    /// `[batch, 1, seq, seq]`, true on padding keys, for Burn's fused attention op (one kernel
    /// per backend: burn-flex's, libtorch's `scaled_dot_product_attention`), used for inference.
    Padding(Tensor<4, Bool>),
}

impl AttentionMask {
    /// From a `[batch, seq]` mask that is 1 on tokens: the fused form off an autodiff device,
    /// where nothing trains and dropout is off; the additive form in `dtype` on one.
    pub fn new(attention_mask: Tensor<2, Int>, dtype: DType) -> Self {
        if attention_mask.device().is_autodiff() {
            return Self::Bias(attention_mask_bias(attention_mask, dtype));
        }
        let [batch, seq] = attention_mask.dims();
        Self::Padding(
            attention_mask
                .equal_elem(0)
                .reshape([batch, 1, 1, seq])
                .expand([batch, 1, seq, seq]),
        )
    }
}

/// `attention.output` and `output` share this shape: dense, dropout, residual, LayerNorm.
#[derive(Module, Debug)]
pub struct BertResidualOutput {
    pub dense: AdaptedLinear,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl BertResidualOutput {
    pub fn forward(&self, hidden: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm
            .forward(self.dropout.forward(self.dense.forward(hidden)) + residual)
    }
}

#[derive(Module, Debug)]
pub struct BertAttention {
    /// HF's `attention.self` (`self` is a Rust keyword).
    pub self_: BertSelfAttention,
    pub output: BertResidualOutput,
}

#[derive(Module, Debug)]
pub struct BertIntermediate {
    pub dense: AdaptedLinear,
    #[module(skip)]
    act: HiddenAct,
}

impl BertIntermediate {
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let x = self.dense.forward(hidden);
        match self.act {
            HiddenAct::Gelu => gelu_exact(x),
            HiddenAct::GeluTanh => gelu_approximate(x),
            HiddenAct::Relu => relu(x),
        }
    }
}

/// The exact (erf) GELU, with its exact gradient on every backend. Burn 0.22.1's default
/// `gelu_backward`, which the CubeCL backends (wgpu, cuda) use, is the derivative of the tanh
/// approximation: 1e-3 off in relative terms, measured against PEFT on lavapipe. There, a tensor
/// that takes part in a backward pass goes through `erf`, whose backward is exact. flex and
/// libtorch have exact GELU backwards and keep the fused op.
fn gelu_exact(x: Tensor<3>) -> Tensor<3> {
    // Burn exposes no backend kind; the CubeCL devices are recognisable by their names.
    if x.is_autodiff() && format!("{:?}", x.device()).contains("Cube(") {
        let half = x.clone() * 0.5;
        half * ((x * std::f64::consts::FRAC_1_SQRT_2).erf() + 1.0)
    } else {
        gelu(x)
    }
}

#[derive(Module, Debug)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub intermediate: BertIntermediate,
    pub output: BertResidualOutput,
}

impl BertLayer {
    pub fn forward(&self, hidden: Tensor<3>, mask: &AttentionMask) -> Tensor<3> {
        let context = self.attention.self_.forward(hidden.clone(), mask);
        let attended = self.attention.output.forward(context, hidden);
        let ffn = self.intermediate.forward(attended.clone());
        self.output.forward(ffn, attended)
    }
}

#[derive(Module, Debug)]
pub struct BertEncoder {
    pub layer: Vec<BertLayer>,
}

impl BertEncoder {
    /// Runs every layer. With `hidden_states`, also records each layer's input and the last
    /// output (HF's `output_hidden_states`).
    pub fn forward(
        &self,
        mut hidden: Tensor<3>,
        mask: &AttentionMask,
        mut hidden_states: Option<&mut Vec<Tensor<3>>>,
    ) -> Tensor<3> {
        for layer in &self.layer {
            if let Some(states) = hidden_states.as_deref_mut() {
                states.push(hidden.clone());
            }
            hidden = layer.forward(hidden, mask);
        }
        if let Some(states) = hidden_states {
            states.push(hidden.clone());
        }
        hidden
    }
}

#[derive(Module, Debug)]
pub struct BertPooler {
    pub dense: AdaptedLinear,
}

impl BertPooler {
    pub fn forward(&self, last_hidden_state: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = last_hidden_state.dims();
        let first = last_hidden_state.narrow(1, 0, 1).reshape([batch, width]);
        self.dense.forward(first).tanh()
    }
}

/// HF's additive attention mask `[batch, 1, 1, seq]` from a `[batch, seq]` mask that is 1 on
/// tokens: 0 on tokens, `dtype`'s most negative finite value on padding. It takes the weights'
/// dtype so that half-precision models run (Burn does not promote mixed dtypes), and the dtype's
/// own minimum, since f32's rounds to -inf in bf16 and `0 * -inf` is NaN.
fn attention_mask_bias(attention_mask: Tensor<2, Int>, dtype: DType) -> Tensor<4> {
    let [batch, seq] = attention_mask.dims();
    let min = match dtype {
        DType::F16 => burn::tensor::f16::MIN.to_f64(),
        DType::BF16 => burn::tensor::bf16::MIN.to_f64(),
        _ => f64::from(f32::MIN),
    };
    (attention_mask.float().cast(dtype).neg() + 1.0)
        .mul_scalar(min)
        .reshape([batch, 1, 1, seq])
}

/// Hugging Face's `BertModel`: embeddings, encoder, optional pooler.
#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    pub encoder: BertEncoder,
    pub pooler: Option<BertPooler>,
}

impl BertModel {
    /// The last hidden state and the pooler output.
    pub fn forward(&self, input: BertInput) -> BertOutput {
        self.run(input, false)
    }

    /// As [`forward`](Self::forward), plus the embedding output and every layer's output
    /// (HF's `output_hidden_states=True`).
    pub fn forward_with_hidden_states(&self, input: BertInput) -> BertOutput {
        self.run(input, true)
    }

    /// The last hidden state alone, without the pooler: for models that pool it themselves.
    pub fn last_hidden_state(&self, input: BertInput) -> Tensor<3> {
        self.encode(input, None)
    }

    fn encode(&self, input: BertInput, hidden_states: Option<&mut Vec<Tensor<3>>>) -> Tensor<3> {
        let mask = AttentionMask::new(input.attention_mask, self.dtype());
        let embedded = self.embeddings.forward(input.input_ids, input.token_type_ids);
        self.encoder.forward(embedded, &mask, hidden_states)
    }

    fn run(&self, input: BertInput, keep_hidden: bool) -> BertOutput {
        let mut hidden_states = Vec::new();
        let hidden = self.encode(input, keep_hidden.then_some(&mut hidden_states));
        let pooler_output = self.pooler.as_ref().map(|p| p.forward(hidden.clone()));
        BertOutput {
            last_hidden_state: hidden,
            pooler_output,
            hidden_states,
        }
    }

    pub fn num_params(&self) -> usize {
        Module::num_params(self)
    }

    /// The float dtype the weights are stored in (that of the word embeddings).
    pub fn dtype(&self) -> DType {
        self.embeddings.word_embeddings.weight.val().dtype()
    }

    /// The weights under Hugging Face's names and layouts (`model.safetensors` of a
    /// `BertModel`), the inverse of [`BertConfig::init_with`]. A layer with an adapter is
    /// exported merged (PEFT's `merge_and_unload`): HF's `BertModel` has no adapters, and the
    /// merged checkpoint computes what the adapted model does. Save the adapter itself with
    /// `burn_peft::save_adapter`.
    pub fn to_hf_tensors(&self) -> Vec<HfTensor> {
        let mut out = Vec::new();
        let norm = |out: &mut Vec<HfTensor>, n: &LayerNorm, path: &str| {
            out.push(HfTensor::new(format!("{path}.weight"), n.gamma.val()));
            if let Some(beta) = &n.beta {
                out.push(HfTensor::new(format!("{path}.bias"), beta.val()));
            }
        };
        let emb = &self.embeddings;
        for (e, name) in [
            (&emb.word_embeddings, "word_embeddings"),
            (&emb.position_embeddings, "position_embeddings"),
            (&emb.token_type_embeddings, "token_type_embeddings"),
        ] {
            out.push(HfTensor::new(format!("embeddings.{name}.weight"), e.weight.val()));
        }
        norm(&mut out, &emb.layer_norm, "embeddings.LayerNorm");
        for (i, layer) in self.encoder.layer.iter().enumerate() {
            let p = format!("encoder.layer.{i}");
            norm(
                &mut out,
                &layer.attention.output.layer_norm,
                &format!("{p}.attention.output.LayerNorm"),
            );
            norm(&mut out, &layer.output.layer_norm, &format!("{p}.output.LayerNorm"));
        }
        for (path, linear) in merged_linears(self) {
            out.push(HfTensor::linear_weight(format!("{path}.weight"), linear.weight.val()));
            if let Some(bias) = &linear.bias {
                out.push(HfTensor::new(format!("{path}.bias"), bias.val()));
            }
        }
        out
    }
}

/// HF module paths (`encoder.layer.{i}.attention.self.query`, ..., `pooler.dense`): the names
/// PEFT gives the same layers, so `target_modules` and adapter files carry over.
impl AdaptableModel for BertModel {
    /// Every linear layer, in model order.
    fn linear_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        for i in 0..self.encoder.layer.len() {
            for name in LAYER_LINEARS {
                paths.push(format!("encoder.layer.{i}.{name}"));
            }
        }
        if self.pooler.is_some() {
            paths.push("pooler.dense".into());
        }
        paths
    }

    fn adapted_linear(&self, path: &str) -> Option<&AdaptedLinear> {
        match parse_linear_path(path)? {
            None => self.pooler.as_ref().map(|p| &p.dense),
            Some((i, name)) => self.encoder.layer.get(i).map(|layer| match name {
                LinearName::Query => &layer.attention.self_.query,
                LinearName::Key => &layer.attention.self_.key,
                LinearName::Value => &layer.attention.self_.value,
                LinearName::AttentionOutput => &layer.attention.output.dense,
                LinearName::Intermediate => &layer.intermediate.dense,
                LinearName::Output => &layer.output.dense,
            }),
        }
    }

    fn adapted_linear_mut(&mut self, path: &str) -> Option<&mut AdaptedLinear> {
        match parse_linear_path(path)? {
            None => self.pooler.as_mut().map(|p| &mut p.dense),
            Some((i, name)) => self.encoder.layer.get_mut(i).map(|layer| match name {
                LinearName::Query => &mut layer.attention.self_.query,
                LinearName::Key => &mut layer.attention.self_.key,
                LinearName::Value => &mut layer.attention.self_.value,
                LinearName::AttentionOutput => &mut layer.attention.output.dense,
                LinearName::Intermediate => &mut layer.intermediate.dense,
                LinearName::Output => &mut layer.output.dense,
            }),
        }
    }
}

/// The linear layers inside each encoder layer, as HF names them.
pub const LAYER_LINEARS: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

#[derive(Clone, Copy)]
enum LinearName {
    Query,
    Key,
    Value,
    AttentionOutput,
    Intermediate,
    Output,
}

/// `Some(None)` for the pooler, `Some(Some((layer, name)))` inside the encoder.
fn parse_linear_path(path: &str) -> Option<Option<(usize, LinearName)>> {
    if path == "pooler.dense" {
        return Some(None);
    }
    let (index, name) = path.strip_prefix("encoder.layer.")?.split_once('.')?;
    let name = match name {
        "attention.self.query" => LinearName::Query,
        "attention.self.key" => LinearName::Key,
        "attention.self.value" => LinearName::Value,
        "attention.output.dense" => LinearName::AttentionOutput,
        "intermediate.dense" => LinearName::Intermediate,
        "output.dense" => LinearName::Output,
        _ => return None,
    };
    Some(Some((index.parse().ok()?, name)))
}

impl BertConfig {
    /// A randomly initialised model (with pooler), for tests and training from scratch.
    pub fn init(&self, device: &Device) -> BertModel {
        let h = self.hidden_size;
        let linear = |i, o| AdaptedLinear::new(LinearConfig::new(i, o).init(device));
        let layer_norm = || LayerNormConfig::new(h).with_epsilon(self.layer_norm_eps).init(device);
        let hidden_dropout = || DropoutConfig::new(self.hidden_dropout_prob).init();
        let embeddings = BertEmbeddings {
            word_embeddings: EmbeddingConfig::new(self.vocab_size, h).init(device),
            position_embeddings: EmbeddingConfig::new(self.max_position_embeddings, h).init(device),
            token_type_embeddings: EmbeddingConfig::new(self.type_vocab_size, h).init(device),
            layer_norm: layer_norm(),
            dropout: hidden_dropout(),
        };
        let layer = (0..self.num_hidden_layers)
            .map(|_| BertLayer {
                attention: BertAttention {
                    self_: BertSelfAttention {
                        query: linear(h, h),
                        key: linear(h, h),
                        value: linear(h, h),
                        dropout: DropoutConfig::new(self.attention_probs_dropout_prob).init(),
                        num_heads: self.num_attention_heads,
                    },
                    output: BertResidualOutput {
                        dense: linear(h, h),
                        layer_norm: layer_norm(),
                        dropout: hidden_dropout(),
                    },
                },
                intermediate: BertIntermediate {
                    dense: linear(h, self.intermediate_size),
                    act: self.hidden_act,
                },
                output: BertResidualOutput {
                    dense: linear(self.intermediate_size, h),
                    layer_norm: layer_norm(),
                    dropout: hidden_dropout(),
                },
            })
            .collect();
        BertModel {
            embeddings,
            encoder: BertEncoder { layer },
            pooler: Some(BertPooler { dense: linear(h, h) }),
        }
    }

    /// A model with its weights from `weights` (HF names and layouts). The pooler is built only
    /// when the checkpoint has one. Call `weights.finish()` afterwards to check every key.
    pub fn init_with(&self, weights: &mut WeightMap, device: &Device) -> BertModel {
        let mut model = self.init(device);
        let h = self.hidden_size;
        let load_linear = |w: &mut WeightMap, l: &mut Linear, path: &str| {
            let [d_in, d_out] = l.weight.dims();
            l.weight = Param::from_tensor(w.linear_weight(&format!("{path}.weight"), d_in, d_out));
            l.bias = Some(Param::from_tensor(w.tensor(&format!("{path}.bias"), [d_out])));
        };
        let load_norm = |w: &mut WeightMap, n: &mut LayerNorm, path: &str| {
            n.gamma = Param::from_tensor(w.tensor(&format!("{path}.weight"), [h]));
            n.beta = Some(Param::from_tensor(w.tensor(&format!("{path}.bias"), [h])));
        };
        let emb = &mut model.embeddings;
        for (e, name, rows) in [
            (&mut emb.word_embeddings, "word_embeddings", self.vocab_size),
            (
                &mut emb.position_embeddings,
                "position_embeddings",
                self.max_position_embeddings,
            ),
            (
                &mut emb.token_type_embeddings,
                "token_type_embeddings",
                self.type_vocab_size,
            ),
        ] {
            e.weight = Param::from_tensor(weights.tensor(&format!("embeddings.{name}.weight"), [rows, h]));
        }
        load_norm(weights, &mut emb.layer_norm, "embeddings.LayerNorm");
        for (i, layer) in model.encoder.layer.iter_mut().enumerate() {
            let p = format!("encoder.layer.{i}");
            load_norm(
                weights,
                &mut layer.attention.output.layer_norm,
                &format!("{p}.attention.output.LayerNorm"),
            );
            load_norm(weights, &mut layer.output.layer_norm, &format!("{p}.output.LayerNorm"));
        }
        if !weights.contains("pooler.dense.weight") {
            model.pooler = None;
        }
        for path in model.linear_paths() {
            let linear = model.adapted_linear_mut(&path).expect("paths come from linear_paths");
            load_linear(weights, &mut linear.base, &path);
        }
        model
    }
}
