//! Mixed precision (Micikevicius et al., 2018): f32 master weights that AdamW updates, and in
//! half precision a copy in the half dtype that runs the forward and backward passes. The
//! trainer and `minbert bench` take their optimizer steps here, so the benchmark times the
//! trainer's step.

use burn::module::Module;
use burn::tensor::DType;

use crate::optim::{AdamW, LossScaler, clip_to, global_norm, scale};
use crate::params::{ParamMap, cast_params, set_values};

/// A model's weights for training, with the optimizer that updates them.
pub struct MixedPrecision<M> {
    /// The f32 weights: what AdamW updates, evaluations score and checkpoints save.
    pub master: M,
    /// The half copy forward and backward passes run on; `None` in f32.
    half: Option<(M, DType)>,
    pub optim: AdamW,
}

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutcome {
    /// The global norm of the unscaled gradients, before clipping.
    pub norm: f64,
    /// Whether the weights were updated (not when the gradients overflowed).
    pub applied: bool,
}

impl<M: Module + Clone> MixedPrecision<M> {
    /// `master` in f32; `half`: the dtype passes compute in, `None` for f32.
    pub fn new(master: M, half: Option<DType>, optim: AdamW) -> Self {
        let half = half.map(|dtype| (cast_params(master.clone(), dtype), dtype));
        Self { master, half, optim }
    }

    /// The model forward and backward passes run on.
    pub fn working(&self) -> &M {
        self.half.as_ref().map_or(&self.master, |(model, _)| model)
    }

    /// Replaces the master weights (a change of what trains), and the half copy with them.
    pub fn set_master(&mut self, master: M) {
        if let Some((model, dtype)) = &mut self.half {
            *model = cast_params(master.clone(), *dtype);
        }
        self.master = master;
    }

    /// One step from `grads`, gradients of [`working`](Self::working) summed over batches
    /// whose losses were multiplied by `divisor` (the loss scale times the batches): they are
    /// divided by it, measured, and with a `scaler` an overflow skips the step and lowers
    /// the scale. Without one, non-finite gradients are not applied either: the caller
    /// decides what that means. Gradients are clipped to `clip_norm` (0: off); `hyper` gives
    /// each parameter path its learning rate and weight decay.
    pub fn step(
        &mut self,
        mut grads: ParamMap,
        divisor: f64,
        scaler: Option<&mut LossScaler>,
        clip_norm: f64,
        hyper: impl Fn(&str) -> (f64, f64),
    ) -> StepOutcome {
        scale(&mut grads, 1.0 / divisor);
        let norm = global_norm(&grads);
        let applied = match scaler {
            Some(scaler) => scaler.update(norm.is_finite()),
            None => norm.is_finite(),
        };
        if applied {
            clip_to(&mut grads, norm, clip_norm);
            let (master, updated) = self.optim.step(self.master.clone(), grads, hyper);
            self.master = master;
            if let Some((model, dtype)) = self.half.take() {
                self.half = Some((set_values(model, &updated, dtype), dtype));
            }
        }
        StepOutcome { norm, applied }
    }
}
