//! Adapters on a whole model: the [`AdaptableModel`] trait a model implements to expose its
//! linear layers by module path, and what PEFT's `LoraModel` does with them (inject, freeze,
//! count, merge, export).

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::Linear;
use burn::tensor::Tensor;

use crate::config::LoraConfig;
use crate::error::PeftError;
use crate::layer::AdaptedLinear;

/// A model whose linear layers are [`AdaptedLinear`]s, each named by a module path: the names
/// PEFT uses for the same model in PyTorch (`encoder.layer.0.attention.self.query` for BERT), so
/// that `target_modules` and adapter files mean the same in both.
pub trait AdaptableModel {
    /// Every linear layer that can take an adapter, in model order.
    fn linear_paths(&self) -> Vec<String>;
    /// The layer at `path`, `None` for a path that is not one of [`linear_paths`](Self::linear_paths).
    fn adapted_linear(&self, path: &str) -> Option<&AdaptedLinear>;
    /// The layer at `path`, mutably.
    fn adapted_linear_mut(&mut self, path: &str) -> Option<&mut AdaptedLinear>;
}

/// Which parameters train once adapters are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trainable {
    /// Only the adapters (PEFT's default): every other parameter is frozen.
    Adapters,
    /// The adapters and the whole base model.
    All,
}

/// Trainable and total parameter counts (PEFT's `print_trainable_parameters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParamCount {
    /// Parameters that require a gradient.
    pub trainable: usize,
    /// All parameters.
    pub total: usize,
}

/// Attaches a new adapter from `config` to every linear layer it selects and freezes every
/// parameter that is not an adapter's (PEFT's `inject_adapter_in_model`); returns the adapted
/// paths. On error the model is unchanged. A layer holds one adapter: adapting it twice is an
/// error.
pub fn inject_adapter<M: AdaptableModel + Module>(
    model: &mut M,
    config: &LoraConfig,
) -> Result<Vec<String>, PeftError> {
    let targets = config.select_targets(&model.linear_paths())?;
    for path in &targets {
        if layer(model, path)?.adapter.is_some() {
            return Err(PeftError::Model(format!(
                "{path} already has an adapter (burn-peft holds one per layer)"
            )));
        }
    }
    let mut adapted = model.clone();
    for path in &targets {
        layer_mut(&mut adapted, path)?
            .attach(&config.for_module(path))
            .map_err(|e| at_module(e, path))?;
    }
    *model = adapted;
    mark_trainable(model, Trainable::Adapters);
    Ok(targets)
}

/// Sets which parameters train; see [`Trainable`].
pub fn mark_trainable<M: AdaptableModel + Module>(model: &mut M, trainable: Trainable) {
    // `Module`'s freezing consumes the model; its clone only copies parameter handles.
    match trainable {
        Trainable::All => *model = model.clone().set_require_grad(true),
        Trainable::Adapters => {
            *model = model.clone().no_grad();
            for path in model.linear_paths() {
                if let Some(layer) = model.adapted_linear_mut(&path) {
                    layer.adapter = layer.adapter.take().map(|adapter| adapter.set_require_grad(true));
                }
            }
        }
    }
}

/// The paths of the layers that carry an adapter, in model order.
pub fn adapted_paths<M: AdaptableModel>(model: &M) -> Vec<String> {
    model
        .linear_paths()
        .into_iter()
        .filter(|path| model.adapted_linear(path).is_some_and(|l| l.adapter.is_some()))
        .collect()
}

/// Counts parameters; a parameter is trainable when it requires a gradient, which a model only
/// shows on an autodiff device (elsewhere nothing is trainable).
pub fn count_params<M: Module>(model: &M) -> ParamCount {
    struct Counter(ParamCount);
    impl ModuleVisitor for Counter {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.lazy_shape().num_elements();
            self.0.total += n;
            if param.val().is_require_grad() {
                self.0.trainable += n;
            }
        }
    }
    let mut counter = Counter(ParamCount { trainable: 0, total: 0 });
    model.visit(&mut counter);
    counter.0
}

/// Folds every adapter into its base weight; see [`AdaptedLinear::merge`].
pub fn merge_adapters<M: AdaptableModel>(model: &mut M) {
    for_each_layer(model, AdaptedLinear::merge);
}

/// Undoes [`merge_adapters`].
pub fn unmerge_adapters<M: AdaptableModel>(model: &mut M) {
    for_each_layer(model, AdaptedLinear::unmerge);
}

/// Every linear layer as the plain `Linear` it computes, adapters merged in, without changing
/// the model: what a merged checkpoint stores (PEFT's `merge_and_unload`).
pub fn merged_linears<M: AdaptableModel>(model: &M) -> Vec<(String, Linear)> {
    model
        .linear_paths()
        .into_iter()
        .filter_map(|path| {
            let merged = model.adapted_linear(&path)?.merged();
            Some((path, merged))
        })
        .collect()
}

fn for_each_layer<M: AdaptableModel>(model: &mut M, f: impl Fn(&mut AdaptedLinear)) {
    for path in model.linear_paths() {
        if let Some(layer) = model.adapted_linear_mut(&path) {
            f(layer);
        }
    }
}

pub(crate) fn layer<'a, M: AdaptableModel>(model: &'a M, path: &str) -> Result<&'a AdaptedLinear, PeftError> {
    model.adapted_linear(path).ok_or_else(|| unresolved(path))
}

pub(crate) fn layer_mut<'a, M: AdaptableModel>(
    model: &'a mut M,
    path: &str,
) -> Result<&'a mut AdaptedLinear, PeftError> {
    model.adapted_linear_mut(path).ok_or_else(|| unresolved(path))
}

/// An error of one layer's adapter, naming the layer.
fn at_module(error: PeftError, path: &str) -> PeftError {
    match error {
        PeftError::Config {
            path: None,
            key,
            message,
        } => PeftError::config(&key, message.replace("the layer", path)),
        other => other,
    }
}

/// A model whose `linear_paths` lists a path it cannot resolve breaks the trait's contract.
fn unresolved(path: &str) -> PeftError {
    PeftError::Model(format!(
        "the model lists a linear layer {path} but has none at that path"
    ))
}
