//! [`AdaptedLinear`]: a Burn `Linear` with an optional LoRA / DoRA [`Adapter`], computing what
//! PEFT's `lora.Linear` computes.
//!
//! Layout: Burn's `Linear` weight is `[in, out]` (`y = x W + b`). The adapter's factors are kept
//! in the same layout, `lora_a` `[in, r]` (PEFT's `lora_A.weight` `[r, in]` transposed) and
//! `lora_b` `[r, out]` (`lora_B.weight` `[out, r]` transposed), so PEFT's `(x A^T) B^T` is
//! `linear(linear(x, a), b)` and its weight update `s B A` is `s a b` here. The transposes to
//! PEFT's layout happen only at the file boundary (reading and writing adapter files).

use burn::module::{Module, Param, Parameter};
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::Tensor;
use burn::tensor::module::linear;

use crate::config::LoraConfig;
use crate::error::PeftError;
use crate::init::new_factors;
use crate::weights::LayerKind;

/// The trained part of an adapted layer: PEFT's `lora_A`, `lora_B` and, for DoRA,
/// `lora_magnitude_vector`.
#[derive(Module, Debug)]
pub struct Adapter {
    /// `[in, r]`.
    pub lora_a: Param<Tensor<2>>,
    /// `[r, out]`.
    pub lora_b: Param<Tensor<2>>,
    /// DoRA's magnitude `m`, `[out]`.
    pub magnitude: Option<Param<Tensor<1>>>,
    /// `lora_bias`'s trained bias of B, `[out]`: the output gains `s` times it.
    pub bias: Option<Param<Tensor<1>>>,
    /// On the adapter's input only.
    pub dropout: Dropout,
    /// `lora_alpha / r`, or `lora_alpha / sqrt(r)` with rsLoRA.
    #[module(skip)]
    pub scaling: f64,
}

/// A linear layer that can carry an adapter. Without one it is exactly `base`.
#[derive(Module, Debug)]
pub struct AdaptedLinear {
    /// The layer the adapter adapts (frozen once one is attached).
    pub base: Linear,
    /// The adapter, if one is attached.
    pub adapter: Option<Adapter>,
    /// Set while the adapter is folded into `base` (see [`merge`](Self::merge)).
    #[module(skip)]
    merged: Option<Merged>,
}

#[derive(Clone, Debug)]
struct Merged {
    /// DoRA's `n` at merge time, `[1, out]`: the merged weight's column norms are `|m|`, so `n`
    /// cannot be recovered from it, and unmerging needs it.
    dora_norm: Option<Tensor<2>>,
}

impl From<Linear> for AdaptedLinear {
    fn from(base: Linear) -> Self {
        Self {
            base,
            adapter: None,
            merged: None,
        }
    }
}

impl Adapter {
    /// A new adapter for `base` from `config` (PEFT's `init_lora_weights`), and the base weight
    /// it leaves: PiSSA and OLoRA take their factors out of it. For DoRA the magnitude starts at
    /// the column norms of `W + s a b` (PEFT's row norms of `W + s B A` in `[out, in]` view), so
    /// DoRA starts where LoRA does.
    fn new(config: &LoraConfig, base: &Linear) -> Result<(Self, Tensor<2>), PeftError> {
        let weight = base.weight.val();
        if config.lora_bias && base.bias.is_none() {
            return Err(PeftError::config(
                "lora_bias",
                "the layer has no bias to merge the adapter's into",
            ));
        }
        let factors = new_factors(config, &weight, LayerKind::Linear, "the layer")?;
        let weight = factors.residual.unwrap_or(weight);
        let mut adapter = Adapter {
            lora_a: Param::from_tensor(factors.a),
            lora_b: Param::from_tensor(factors.b),
            magnitude: None,
            // PEFT starts `lora_B.bias` at zero.
            bias: config.lora_bias.then(|| {
                let d_out = weight.dims()[1];
                Param::from_tensor(Tensor::zeros([d_out], (&weight.device(), weight.dtype())))
            }),
            dropout: DropoutConfig::new(config.lora_dropout).init(),
            scaling: config.scaling(),
        };
        if config.use_dora {
            // Detached: a parameter must be a leaf of the autodiff graph.
            let norm = column_norms(weight.clone().detach() + adapter.delta_weight()).detach();
            let [_, d_out] = weight.dims();
            adapter.magnitude = Some(Param::from_tensor(norm.reshape([d_out])));
        }
        Ok((adapter, weight))
    }

    /// The rank `r`.
    pub fn rank(&self) -> usize {
        self.lora_a.val().dims()[1]
    }

    /// Whether it is DoRA (has a magnitude).
    pub fn is_dora(&self) -> bool {
        self.magnitude.is_some()
    }

    /// `s a b`, the weight update in Burn's `[in, out]` layout, detached: only merging and
    /// DoRA's norm use it, and neither is differentiated.
    fn delta_weight(&self) -> Tensor<2> {
        self.lora_a
            .val()
            .detach()
            .matmul(self.lora_b.val().detach())
            .mul_scalar(self.scaling)
    }

    /// `y = base(x) + s (dropout(x) A^T) B^T` for LoRA; for DoRA
    /// `y = (m / n) (x W + s (x A^T) B^T) + b` with `n` the column norms of `W + s a b`.
    fn forward<const D: usize>(&self, base: &Linear, x: Tensor<D>) -> Tensor<D> {
        // Dropout's own test for doing anything; when it does not, `x` is reused as is.
        let dropout_active = self.dropout.prob > 0.0 && self.dropout.training.is_enabled() && x.device().is_autodiff();
        let x_adapter = if dropout_active {
            self.dropout.forward(x.clone())
        } else {
            x.clone()
        };
        // Activation space: `B A` is never formed, and `s` multiplies the r-wide intermediate
        // rather than the out-wide result.
        let update = linear(
            linear(x_adapter.clone(), self.lora_a.val(), None).mul_scalar(self.scaling),
            self.lora_b.val(),
            None,
        );
        let Some(magnitude) = &self.magnitude else {
            let update = match &self.bias {
                Some(bias) => update + bias.val().mul_scalar(self.scaling).unsqueeze::<D>(),
                None => update,
            };
            return base.forward(x) + update;
        };
        let weight = base.weight.val();
        // `n` is a constant in backward (DoRA section 4.3, as PEFT): computed from detached
        // values, it also stays off the autodiff tape.
        let norm = column_norms(weight.clone().detach() + self.delta_weight());
        let scale = (magnitude.val().unsqueeze::<2>() / norm).unsqueeze::<D>();
        let bias = base.bias.as_ref().map(|b| b.val().unsqueeze::<D>());
        if !dropout_active {
            let y = (linear(x, weight, None) + update) * scale;
            return match bias {
                Some(bias) => y + bias,
                None => y,
            };
        }
        // PEFT's form under dropout, which rescales the base output of the dropped input only:
        // base(x) + (m/n - 1) (x~ W) + (m/n) s (x~ A^T) B^T, with x~ = dropout(x).
        base.forward(x) + linear(x_adapter, weight, None) * scale.clone().sub_scalar(1.0) + update * scale
    }

    /// `bias` plus `sign` times `lora_bias`'s `s b` (`sign` -1 takes it out again).
    fn merged_bias(&self, bias: Option<Param<Tensor<1>>>, sign: f64) -> Option<Param<Tensor<1>>> {
        match (bias, &self.bias) {
            (Some(base), Some(b)) => {
                let value = base.val().detach() + b.val().detach().mul_scalar(sign * self.scaling);
                Some(with_value(base, value))
            }
            (bias, _) => bias,
        }
    }

    /// The base weight with this adapter folded in, and DoRA's `n` (`[1, out]`) used for it.
    fn merge_into(&self, weight: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        let adapted = weight.detach() + self.delta_weight();
        match &self.magnitude {
            None => (adapted, None),
            Some(magnitude) => {
                let norm = column_norms(adapted.clone());
                let scale = magnitude.val().detach().unsqueeze::<2>() / norm.clone();
                (adapted * scale, Some(norm))
            }
        }
    }
}

impl AdaptedLinear {
    /// `base` without an adapter.
    pub fn new(base: Linear) -> Self {
        base.into()
    }

    /// `[d_input, d_output]`.
    pub fn dims(&self) -> [usize; 2] {
        self.base.weight.val().dims()
    }

    /// `base(x)`, plus the adapter's contribution unless it is merged into `base`.
    ///
    /// Every leading dimension of `x` is folded into rows first. On a `[batch, seq, in]` input
    /// Burn's `linear` is a matmul against the weight broadcast over the batch, whose backward
    /// forms one `[in, out]` weight gradient per sequence and then sums them; on
    /// `[batch * seq, in]` it is a single product.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if D <= 2 {
            return self.forward_rows(x);
        }
        let dims = x.dims();
        let rows = dims[..D - 1].iter().product();
        let y = self.forward_rows(x.reshape([rows, dims[D - 1]]));
        let mut out = dims;
        out[D - 1] = y.dims()[1];
        y.reshape(out)
    }

    fn forward_rows<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.adapter {
            Some(adapter) if self.merged.is_none() => adapter.forward(&self.base, x),
            _ => self.base.forward(x),
        }
    }

    /// Attaches a new adapter built from `config` (replacing any adapter, unmerged first) and
    /// freezes the base weight and bias: they get no gradient and so no optimizer state. PiSSA
    /// and OLoRA leave the residual in the base weight, as PEFT does. Errors (a rank the weight
    /// cannot give PiSSA or OLoRA) leave the layer unchanged.
    pub fn attach(&mut self, config: &LoraConfig) -> Result<(), PeftError> {
        self.unmerge();
        let (adapter, weight) = Adapter::new(config, &self.base)?;
        self.base.weight = with_value(self.base.weight.clone(), weight);
        self.adapter = Some(adapter);
        self.base = self.base.clone().no_grad();
        Ok(())
    }

    /// Whether the adapter is folded into the base weight.
    pub fn is_merged(&self) -> bool {
        self.merged.is_some()
    }

    /// Folds the adapter into the base weight (PEFT's `merge`): the forward pass then costs what
    /// the base layer alone costs. The adapter is kept, so [`unmerge`](Self::unmerge) undoes it.
    /// LoRA: `W' = W + s a b`; DoRA: `W' = (W + s a b) (m / n)`, scaling each output column.
    /// The bias gains `lora_bias`'s `s b`. Does nothing without an adapter or when already merged.
    pub fn merge(&mut self) {
        let (Some(adapter), None) = (&self.adapter, &self.merged) else {
            return;
        };
        let (weight, dora_norm) = adapter.merge_into(self.base.weight.val());
        self.base.weight = with_value(self.base.weight.clone(), weight);
        self.base.bias = adapter.merged_bias(self.base.bias.clone(), 1.0);
        self.merged = Some(Merged { dora_norm });
    }

    /// The inverse of [`merge`](Self::merge), within float rounding: `W = W' (n / m) - s a b`.
    pub fn unmerge(&mut self) {
        let (Some(adapter), Some(merged)) = (&self.adapter, self.merged.take()) else {
            return;
        };
        let mut weight = self.base.weight.val().detach();
        if let (Some(norm), Some(magnitude)) = (merged.dora_norm, &adapter.magnitude) {
            weight = weight * (norm / magnitude.val().detach().unsqueeze::<2>());
        }
        self.base.weight = with_value(self.base.weight.clone(), weight - adapter.delta_weight());
        self.base.bias = adapter.merged_bias(self.base.bias.clone(), -1.0);
    }

    /// The plain linear layer this one computes (the adapter merged in), leaving `self` as it
    /// is: what a merged checkpoint stores.
    pub fn merged(&self) -> Linear {
        match (&self.adapter, &self.merged) {
            (Some(adapter), None) => Linear {
                weight: with_value(self.base.weight.clone(), adapter.merge_into(self.base.weight.val()).0),
                bias: adapter.merged_bias(self.base.bias.clone(), 1.0),
            },
            _ => self.base.clone(),
        }
    }
}

/// Euclidean norm of each column of `[in, out]`, `[1, out]`: PEFT's per-row norm of the
/// `[out, in]` weight.
pub(crate) fn column_norms(weight: Tensor<2>) -> Tensor<2> {
    weight.square().sum_dim(0).sqrt()
}

/// `param` holding `value` instead, with its id (optimizer state stays attached) and its
/// gradient setting kept. `value` is detached, so the parameter is a leaf again.
pub(crate) fn with_value<const D: usize>(param: Param<Tensor<D>>, value: Tensor<D>) -> Param<Tensor<D>> {
    param.map(|old| Parameter::set_require_grad(value.detach(), old.is_require_grad()))
}
