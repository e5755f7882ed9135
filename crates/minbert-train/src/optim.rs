//! The optimizer side of a step: gradient accumulation, the global gradient norm and its
//! clipping, f16 loss scaling, and AdamW.
//!
//! AdamW is written here rather than taken from burn-optim because its state is keyed by
//! parameter path (see [`params`](crate::params)): Burn's is keyed by parameter ids, which a
//! model rebuilt from a checkpoint does not keep, and resuming needs the state back exactly.
//! It also applies per-group learning rates and weight decays and updates f32 master weights
//! from gradients computed in half precision.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor};
use minbert_model::HfTensor;
use serde::{Deserialize, Serialize};

use crate::params::{ParamMap, leaf};

/// Adds `grads` into `sum` (gradient accumulation).
pub fn accumulate(sum: &mut ParamMap, grads: ParamMap) {
    for (path, grad) in grads {
        match sum.remove(&path) {
            Some(total) => sum.insert(path, total + grad),
            None => sum.insert(path, grad),
        };
    }
}

/// Multiplies every gradient by `factor`, in place where the backend can (each gradient is
/// taken out of the map, so it is not shared while it is scaled).
pub fn scale(grads: &mut ParamMap, factor: f64) {
    if factor == 1.0 {
        return;
    }
    for (path, grad) in std::mem::take(grads) {
        grads.insert(path, grad.mul_scalar(factor));
    }
}

/// The L2 norm of all gradients together, `sqrt(sum of squares)`; not finite when any gradient
/// holds an infinity or NaN (how f16 overflow is detected). One value is read back.
pub fn global_norm(grads: &ParamMap) -> f64 {
    let mut squares = grads.values().map(|g| g.clone().square().sum());
    let Some(first) = squares.next() else {
        return 0.0;
    };
    let total = squares.fold(first, |acc, s| acc + s);
    f64::from(total.into_scalar::<f32>()).sqrt()
}

/// Scales all gradients together so their global norm (`global_norm`, computed once by the
/// caller) is at most `max_norm` (PyTorch's `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)`
/// when the norm exceeds it). Burn's own clipping is per tensor, which changes the update's
/// direction; this keeps it.
pub fn clip_to(grads: &mut ParamMap, norm: f64, max_norm: f64) {
    if max_norm > 0.0 && norm.is_finite() && norm > max_norm {
        scale(grads, max_norm / (norm + 1e-6));
    }
}

/// Dynamic loss scaling for f16 (PyTorch's `GradScaler`): the loss is multiplied by `scale`
/// so small gradients survive f16; a step whose gradients overflow is skipped and the scale
/// halved; after `growth_interval` good steps in a row it doubles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    pub scale: f64,
    pub growth_interval: usize,
    pub good_steps: usize,
    /// Steps skipped because their gradients overflowed.
    pub skipped_steps: usize,
    /// Of those, how many in a row up to now.
    #[serde(default)]
    pub consecutive_skips: usize,
}

impl LossScaler {
    pub fn new(scale: f64) -> Self {
        Self {
            scale,
            growth_interval: 2000,
            good_steps: 0,
            skipped_steps: 0,
            consecutive_skips: 0,
        }
    }

    /// Records whether this step's (unscaled) gradients were finite; returns whether to apply
    /// the step.
    pub fn update(&mut self, finite: bool) -> bool {
        if !finite {
            self.scale = (self.scale / 2.0).max(1.0);
            self.good_steps = 0;
            self.skipped_steps += 1;
            self.consecutive_skips += 1;
            return false;
        }
        self.consecutive_skips = 0;
        self.good_steps += 1;
        if self.good_steps == self.growth_interval {
            self.scale *= 2.0;
            self.good_steps = 0;
        }
        true
    }
}

/// AdamW's moments of one parameter, flat.
#[derive(Debug, Clone)]
struct Moments {
    exp_avg: Tensor<1>,
    exp_avg_sq: Tensor<1>,
    steps: u64,
}

/// AdamW (Loshchilov and Hutter) with PyTorch's update:
/// `p <- p (1 - lr wd) - lr m_hat / (sqrt(v_hat) + eps)`, bias corrections counted per
/// parameter (a parameter unfrozen later starts its own count).
///
/// The update is ordered so that each op's left operand is a tensor nothing else holds, which
/// LibTorch and flex then update in place: fewer full-size temporaries (47 MB each for the word
/// embeddings) exist at once.
#[derive(Debug, Clone)]
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    states: BTreeMap<String, Moments>,
}

impl AdamW {
    pub fn new(beta1: f64, beta2: f64, eps: f64) -> Self {
        Self {
            beta1,
            beta2,
            eps,
            states: BTreeMap::new(),
        }
    }

    /// Updates every parameter that has a gradient in `grads`. `hyper(path)` gives its learning
    /// rate and weight decay; decay applies to matrices only (not to biases, LayerNorm or DoRA
    /// magnitudes), as Hugging Face's Trainer does. Consumes the gradients (their memory is
    /// reused). Returns the model and the new values of the updated parameters (flat f32).
    pub fn step<M: Module>(&mut self, model: M, grads: ParamMap, hyper: impl Fn(&str) -> (f64, f64)) -> (M, ParamMap) {
        struct Stepper<'a, F> {
            path: Vec<String>,
            optim: &'a mut AdamW,
            grads: ParamMap,
            hyper: F,
            updated: ParamMap,
        }
        impl<F: Fn(&str) -> (f64, f64)> ModuleMapper for Stepper<'_, F> {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.path.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.pop();
            }
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let path = self.path.join(".");
                let Some(grad) = self.grads.remove(&path) else {
                    return param;
                };
                let (lr, weight_decay) = (self.hyper)(&path);
                let weight_decay = if D >= 2 { weight_decay } else { 0.0 };
                let optim = &mut *self.optim;
                let mut new_value = None;
                let param = param.map(|old| {
                    let dims: [usize; D] = old.dims();
                    let (require_grad, autodiff) = (old.is_require_grad(), old.is_autodiff());
                    let value = old.inner();
                    let n = value.shape().num_elements();
                    let updated = optim.update(&path, value.reshape([n]), grad, lr, weight_decay);
                    new_value = Some(updated.clone());
                    leaf(updated.reshape(dims), require_grad, autodiff)
                });
                self.updated
                    .insert(path, new_value.expect("Param::map runs its closure"));
                param
            }
        }
        let mut stepper = Stepper {
            path: Vec::new(),
            optim: self,
            grads,
            hyper,
            updated: ParamMap::new(),
        };
        let model = model.map(&mut stepper);
        (model, stepper.updated)
    }

    fn update(&mut self, path: &str, value: Tensor<1>, grad: Tensor<1>, lr: f64, weight_decay: f64) -> Tensor<1> {
        let (b1, b2) = (self.beta1, self.beta2);
        // v first: it needs the gradient squared (a new tensor), m then takes the gradient itself.
        let grad_sq = grad.clone().square().mul_scalar(1.0 - b2);
        let grad = grad.mul_scalar(1.0 - b1);
        let (exp_avg, exp_avg_sq, steps) = match self.states.remove(path) {
            Some(s) => (
                s.exp_avg.mul_scalar(b1) + grad,
                s.exp_avg_sq.mul_scalar(b2) + grad_sq,
                s.steps + 1,
            ),
            None => (grad, grad_sq, 1),
        };
        let bias1 = 1.0 - b1.powi(steps as i32);
        let bias2 = 1.0 - b2.powi(steps as i32);
        // lr m_hat / (sqrt(v_hat) + eps), with the division as a product by the reciprocal so
        // that the new denominator, not the kept moment, is the left operand.
        let step = exp_avg_sq
            .clone()
            .div_scalar(bias2)
            .sqrt()
            .add_scalar(self.eps)
            .recip()
            .mul(exp_avg.clone())
            .mul_scalar(lr / bias1);
        let decayed = if weight_decay > 0.0 {
            value.mul_scalar(1.0 - lr * weight_decay)
        } else {
            value
        };
        self.states.insert(
            path.to_string(),
            Moments {
                exp_avg,
                exp_avg_sq,
                steps,
            },
        );
        decayed - step
    }

    /// The state as tensors named `{path}.exp_avg`, `{path}.exp_avg_sq` and `{path}.step` (the
    /// step count as a one-element f32, exact below 2^24 steps).
    pub fn state_tensors(&self) -> Vec<HfTensor> {
        let mut out = Vec::new();
        for (path, s) in &self.states {
            out.push(HfTensor::new(format!("{path}.exp_avg"), s.exp_avg.clone()));
            out.push(HfTensor::new(format!("{path}.exp_avg_sq"), s.exp_avg_sq.clone()));
            out.push(HfTensor {
                name: format!("{path}.step"),
                shape: vec![1],
                values: vec![s.steps as f32],
            });
        }
        out
    }

    /// Restores [`state_tensors`](Self::state_tensors) onto `device` (without autodiff).
    /// `expected` gives the flat size of each parameter; a tensor for no parameter, or of the
    /// wrong size, is an error naming it.
    pub fn load_state(
        &mut self,
        tensors: Vec<HfTensor>,
        expected: &BTreeMap<String, usize>,
        device: &Device,
    ) -> Result<(), String> {
        let mut parts: BTreeMap<String, [Option<HfTensor>; 3]> = BTreeMap::new();
        for t in tensors {
            let (path, kind) = t
                .name
                .rsplit_once('.')
                .ok_or_else(|| format!("\"{}\" is not a parameter state", t.name))?;
            let (path, kind) = (path.to_string(), kind.to_string());
            let slot = match kind.as_str() {
                "exp_avg" => 0,
                "exp_avg_sq" => 1,
                "step" => 2,
                _ => return Err(format!("\"{}\": expected exp_avg, exp_avg_sq or step", t.name)),
            };
            parts.entry(path).or_default()[slot] = Some(t);
        }
        let device = device.clone().inner();
        let mut states = BTreeMap::new();
        for (path, [m, v, step]) in parts {
            let size = *expected
                .get(&path)
                .ok_or_else(|| format!("state for \"{path}\", which is not a trainable parameter of the model"))?;
            let (Some(m), Some(v), Some(step)) = (m, v, step) else {
                return Err(format!(
                    "\"{path}\": incomplete state (needs exp_avg, exp_avg_sq and step)"
                ));
            };
            for t in [&m, &v] {
                if t.values.len() != size {
                    return Err(format!(
                        "\"{}\" has {} values, the parameter {size}",
                        t.name,
                        t.values.len()
                    ));
                }
            }
            let steps = step.values.first().copied().unwrap_or(0.0) as u64;
            states.insert(
                path,
                Moments {
                    exp_avg: m.to_tensor::<1>(&device),
                    exp_avg_sq: v.to_tensor::<1>(&device),
                    steps,
                },
            );
        }
        self.states = states;
        Ok(())
    }
}
