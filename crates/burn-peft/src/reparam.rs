//! The weight-space path: adapters as a Burn [`Reparameterization`] of a linear layer's weight,
//! so any `Module` takes them with no change to its code. The weight a layer computes with is
//! `W + sum of the active adapters' updates`, formed at each forward pass.
//!
//! Also the module traversals [`PeftModel`](crate::PeftModel) needs: finding a model's linear
//! layers, reading its parameters by path (the adapters' included), and putting parameters
//! back by path.

use std::any::Any;
use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, Reparameterization, Reparameterizer};
use burn::tensor::Tensor;

use crate::layer::column_norms;
use crate::weights::LayerKind;

/// One adapter on one `[in, out]` weight (Burn's `Linear` layout).
#[derive(Module, Debug)]
pub struct WeightAdapter {
    /// `[in, r]`: PEFT's `lora_A.weight` transposed.
    pub lora_a: Param<Tensor<2>>,
    /// `[r, out]`: PEFT's `lora_B.weight` transposed.
    pub lora_b: Param<Tensor<2>>,
    /// DoRA's magnitude `m`, `[out]`.
    pub magnitude: Option<Param<Tensor<1>>>,
    /// `lora_bias`'s trained bias, `[out]`: PEFT's `lora_B.bias`. Attached to the layer's bias
    /// (a [`PeftBias`]), not used by the weight.
    pub bias: Option<Param<Tensor<1>>>,
    /// `lora_alpha / r`, or `lora_alpha / sqrt(r)` with rsLoRA.
    #[module(skip)]
    pub scaling: f64,
}

impl WeightAdapter {
    /// `s a b`.
    fn update(&self) -> Tensor<2> {
        self.lora_a.val().matmul(self.lora_b.val()).mul_scalar(self.scaling)
    }

    /// The weight this adapter alone makes of `weight`: `W + s a b` (LoRA), or
    /// `(m / n) (W + s a b)` with `n` its column norms, a constant in backward (DoRA, as PEFT).
    fn adapt(&self, weight: Tensor<2>) -> Tensor<2> {
        let adapted = weight + self.update();
        match &self.magnitude {
            None => adapted,
            Some(magnitude) => {
                let norm = column_norms(adapted.clone().detach());
                adapted * (magnitude.val().unsqueeze::<2>() / norm)
            }
        }
    }
}

/// The active adapters of one weight: the reparameterization burn-peft attaches. Several
/// adapters add their changes to the weight, as PEFT adds their outputs.
#[derive(Module, Debug)]
pub struct PeftWeight {
    /// In the order they were activated.
    pub adapters: Vec<WeightAdapter>,
}

impl Reparameterization for PeftWeight {
    const NAME: &'static str = "peft";

    fn apply<const D: usize>(&self, base: Tensor<D>) -> Tensor<D> {
        let shape = base.shape();
        let weight: Tensor<2> = base.reshape([shape[0], shape[1]]);
        let adapted = match &self.adapters[..] {
            [only] => only.adapt(weight),
            adapters => {
                let changes: Vec<Tensor<2>> = adapters
                    .iter()
                    .map(|a| a.adapt(weight.clone()) - weight.clone())
                    .collect();
                changes.into_iter().fold(weight, |w, change| w + change)
            }
        };
        adapted.reshape(shape)
    }
}

/// The `lora_bias` biases of the active adapters on one layer's bias: `b + sum of s b_i`.
#[derive(Module, Debug)]
pub struct PeftBias {
    /// In the order the adapters were activated.
    pub biases: Vec<LoraBias>,
}

/// One adapter's trained bias with its scaling.
#[derive(Module, Debug)]
pub struct LoraBias {
    /// PEFT's `lora_B.bias`, `[out]`.
    pub bias: Param<Tensor<1>>,
    /// The adapter's scaling, which multiplies the bias as it does B's output.
    #[module(skip)]
    pub scaling: f64,
}

impl Reparameterization for PeftBias {
    const NAME: &'static str = "peft_bias";

    fn apply<const D: usize>(&self, base: Tensor<D>) -> Tensor<D> {
        let shape = base.shape();
        let biases = self.biases.iter();
        let bias = biases.fold(base.reshape([shape[0]]), |b, lora| {
            b + lora.bias.val().mul_scalar(lora.scaling)
        });
        bias.reshape(shape)
    }
}

/// Attaches the planned [`PeftBias`]es to the biases at their paths.
pub(crate) struct BiasInjector {
    pub plan: BTreeMap<String, Vec<LoraBias>>,
}

impl Reparameterizer for BiasInjector {
    type Reparam = PeftBias;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<PeftBias>) {
        match self.plan.remove(path) {
            Some(biases) if D == 1 && !biases.is_empty() => (param, Some(PeftBias { biases })),
            _ => (param, None),
        }
    }
}

/// Attaches prepared adapters to the weights at the planned parameter paths.
pub(crate) struct Injector {
    pub plan: BTreeMap<String, Vec<WeightAdapter>>,
}

impl Reparameterizer for Injector {
    type Reparam = PeftWeight;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<PeftWeight>) {
        match self.plan.remove(path) {
            Some(adapters) if D == 2 && !adapters.is_empty() => (param, Some(PeftWeight { adapters })),
            _ => (param, None),
        }
    }
}

/// A layer of a model that takes an adapter: its module path, its weight's `[in, out]`
/// (Burn's layouts: a `Linear`'s `[in, out]`, an `Embedding`'s `[vocabulary, size]`), its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetLayer {
    pub path: String,
    pub dims: [usize; 2],
    pub kind: LayerKind,
}

/// Every `burn::nn::Linear` and `burn::nn::Embedding` of `model`, in model order.
pub(crate) fn target_layers<M: Module>(model: &M) -> Vec<TargetLayer> {
    let mut walk = Walk::default();
    model.visit(&mut walk);
    walk.layers
}

/// A model's parameters by path: the base ones (`Param<Tensor<D>>` as `Any`), and the adapter
/// factors attached to each weight, by weight path and position.
#[derive(Default)]
pub(crate) struct Params {
    pub bases: BTreeMap<String, Box<dyn Any>>,
    pub adapters: BTreeMap<(String, usize), AdapterParams>,
}

#[derive(Default)]
pub(crate) struct AdapterParams {
    pub lora_a: Option<Param<Tensor<2>>>,
    pub lora_b: Option<Param<Tensor<2>>>,
    pub magnitude: Option<Param<Tensor<1>>>,
    pub bias: Option<Param<Tensor<1>>>,
}

impl Params {
    /// The base weight at `path` (2-D).
    pub fn weight(&self, path: &str) -> Option<Param<Tensor<2>>> {
        self.bases.get(path)?.downcast_ref::<Param<Tensor<2>>>().cloned()
    }
}

/// Reads every parameter of `model` by path.
pub(crate) fn params<M: Module>(model: &M) -> Params {
    let mut walk = Walk::default();
    model.visit(&mut walk);
    walk.params
}

/// `model` with each base parameter whose path is in `params` replaced by that one.
pub(crate) fn put_params<M: Module>(model: M, params: &BTreeMap<String, Box<dyn Any>>) -> M {
    model.map(&mut Put {
        path: Vec::new(),
        params,
    })
}

#[derive(Default)]
struct Walk {
    /// (field name, its container's type) from the root.
    stack: Vec<(String, String)>,
    layers: Vec<TargetLayer>,
    params: Params,
}

const REPARAMETERIZATION: &str = "Reparameterization";

impl ModuleVisitor for Walk {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let joined =
            |entries: &[(String, String)]| entries.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(".");
        let Some(at) = self.stack.iter().position(|(_, c)| c == REPARAMETERIZATION) else {
            let path = joined(&self.stack);
            let kind = match self.stack.last() {
                Some((name, container)) if D == 2 && name == "weight" => match container.as_str() {
                    "Struct:Linear" => Some(LayerKind::Linear),
                    "Struct:Embedding" => Some(LayerKind::Embedding),
                    _ => None,
                },
                _ => None,
            };
            if let Some(kind) = kind {
                let dims = param.lazy_shape();
                self.layers.push(TargetLayer {
                    path: joined(&self.stack[..self.stack.len() - 1]),
                    dims: [dims[0], dims[1]],
                    kind,
                });
            }
            self.params.bases.insert(path, Box::new(param.clone()));
            return;
        };
        // `<weight path>.peft.adapters.<i>.<field>`, `<bias path>.peft_bias.biases.<i>.bias`.
        let names: Vec<&str> = self.stack[at..].iter().map(|(n, _)| n.as_str()).collect();
        let (Some(index), Some(field)) = (names.get(2).and_then(|i| i.parse().ok()), names.last()) else {
            return;
        };
        let entry = self
            .params
            .adapters
            .entry((joined(&self.stack[..at]), index))
            .or_default();
        let any: &dyn Any = param;
        match *field {
            "lora_a" => entry.lora_a = any.downcast_ref().cloned(),
            "lora_b" => entry.lora_b = any.downcast_ref().cloned(),
            "magnitude" => entry.magnitude = any.downcast_ref().cloned(),
            "bias" => entry.bias = any.downcast_ref().cloned(),
            _ => {}
        }
    }
}

struct Put<'a> {
    path: Vec<String>,
    params: &'a BTreeMap<String, Box<dyn Any>>,
}

impl ModuleMapper for Put<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let replacement = self
            .params
            .get(&self.path.join("."))
            .and_then(|p| p.downcast_ref::<Param<Tensor<D>>>());
        match replacement {
            Some(p) => p.clone(),
            None => param,
        }
    }
}
