//! [`PeftModel`]: PEFT's `get_peft_model` for any Burn model. Named adapters on a model's
//! `burn::nn::Linear` and `burn::nn::Embedding` layers, attached as weight reparameterizations
//! (no change to the model's code), saved and loaded as PEFT adapter directories.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::tensor::kind::Basic;
use burn::tensor::{Device, Int, Tensor, TensorData};
use nalgebra::DMatrix;

use crate::config::{LoraConfig, TargetModules};
use crate::error::PeftError;
use crate::init::{from_matrix, new_factors, to_matrix};
use crate::io::ADAPTER_CONFIG_FILE;
use crate::key_map::KeyMap;
use crate::layer::{column_norms, with_value};
use crate::merge::{WeightedMerge, add_weighted_adapter};
use crate::model::{ParamCount, count_params};
use crate::reparam::{BiasInjector, Injector, LoraBias, TargetLayer, WeightAdapter, params, put_params, target_layers};
use crate::weights::{AdapterWeights, LayerKind, ModuleFactors};

/// The name PEFT gives the first adapter, saved at the top of a directory.
pub const DEFAULT_ADAPTER: &str = "default";

/// The adapter name of a row that takes no adapter in [`PeftModel::forward_mixed`] (PEFT's
/// `"__base__"`).
pub const BASE_ADAPTER: &str = "__base__";

/// Wraps `model` with one adapter named `"default"` made from `config`, active and the only
/// trainable parameters (PEFT's `get_peft_model`). Module paths are used as PEFT names; see
/// [`PeftModel::with_key_map`] for models whose names differ.
pub fn get_peft_model<M: Module>(model: M, config: LoraConfig) -> Result<PeftModel<M>, PeftError> {
    let mut peft = PeftModel::new(model)?;
    peft.add_adapter(DEFAULT_ADAPTER, config)?;
    peft.set_adapter(&[DEFAULT_ADAPTER])?;
    Ok(peft)
}

/// A model with named LoRA / rsLoRA / DoRA adapters on its linear layers (PEFT's `PeftModel`).
///
/// The wrapped model keeps its type and code: [`model`](Self::model) is the model to call, its
/// linear weights reparameterized as `W + updates of the active adapters`. Its base parameters
/// are frozen; the active adapters' factors are its trainable parameters (train them with any
/// Burn optimizer through [`update`](Self::update)). Inactive adapters are kept aside.
///
/// Adapters here apply no dropout (the weight-space path cannot drop the adapter's input only):
/// a config with `lora_dropout > 0` is refused for new adapters. Models that own their linear
/// layers can use [`AdaptedLinear`](crate::AdaptedLinear), the activation-space path, instead.
#[derive(Debug, Clone)]
pub struct PeftModel<M: Module> {
    /// The model with the active adapters attached.
    model: M,
    /// The same model without adapters (its parameters shared with `model`).
    base: M,
    key_map: KeyMap,
    /// The layers that can take an adapter, in model order.
    layers: Vec<TargetLayer>,
    adapters: Vec<NamedAdapter>,
    active: Vec<String>,
    /// Every adapter's factors as of the last [`sync`](Self::sync), by (adapter, weight path).
    factors: BTreeMap<(String, String), WeightAdapter>,
}

#[derive(Debug, Clone)]
struct NamedAdapter {
    name: String,
    config: LoraConfig,
    /// Indices into `layers`.
    targets: Vec<usize>,
}

impl<M: Module> PeftModel<M> {
    /// `model` with no adapter yet, its parameters frozen. Errors if it has no `Linear` layer.
    pub fn new(model: M) -> Result<Self, PeftError> {
        let layers = target_layers(&model);
        if layers.is_empty() {
            return Err(PeftError::Model(
                "the model has no burn::nn::Linear or Embedding layer to take an adapter".into(),
            ));
        }
        let model = model.no_grad();
        Ok(Self {
            base: model.clone(),
            model,
            key_map: KeyMap::new(),
            layers,
            adapters: Vec::new(),
            active: Vec::new(),
            factors: BTreeMap::new(),
        })
    }

    /// Uses `key_map` between the model's module paths and PEFT names (in `target_modules` and
    /// adapter files). It must map no two layers to one name. Set it before adding adapters.
    pub fn with_key_map(mut self, key_map: KeyMap) -> Result<Self, PeftError> {
        let mut seen = BTreeMap::new();
        for layer in &self.layers {
            let name = key_map.to_peft(&layer.path);
            if key_map.to_burn(&name) != layer.path {
                return Err(PeftError::Model(format!(
                    "the key map sends {} to {name}, which it maps back to {}",
                    layer.path,
                    key_map.to_burn(&name)
                )));
            }
            if let Some(other) = seen.insert(name.clone(), layer.path.clone()) {
                return Err(PeftError::Model(format!(
                    "the key map gives {other} and {} the same PEFT name {name}",
                    layer.path
                )));
            }
        }
        self.key_map = key_map;
        Ok(self)
    }

    /// The model to call: the active adapters attached.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Replaces the model by `f(model)`, e.g. an optimizer step:
    /// `peft.update(|m| optimizer.step(lr, m, grads))`. `f` must keep the model's structure.
    pub fn update(&mut self, f: impl FnOnce(M) -> M) {
        self.model = f(self.model.clone());
    }

    /// Runs `f` on the model with every adapter disabled (PEFT's `disable_adapter()` context):
    /// the base model, sharing its parameters.
    pub fn with_adapters_disabled<R>(&mut self, f: impl FnOnce(&M) -> R) -> R {
        self.sync();
        f(&self.base)
    }

    /// The adapters' names, in the order they were added.
    pub fn adapter_names(&self) -> Vec<&str> {
        self.adapters.iter().map(|a| a.name.as_str()).collect()
    }

    /// The active adapters.
    pub fn active_adapters(&self) -> &[String] {
        &self.active
    }

    /// An adapter's config.
    pub fn config(&self, name: &str) -> Option<&LoraConfig> {
        self.adapters.iter().find(|a| a.name == name).map(|a| &a.config)
    }

    /// The PEFT names of the layers an adapter adapts, in model order.
    pub fn targets(&self, name: &str) -> Result<Vec<String>, PeftError> {
        let adapter = self.adapter(name)?;
        Ok(adapter.targets.iter().map(|&i| self.peft_name(i)).collect())
    }

    /// Trainable (the active adapters) and total parameters of [`model`](Self::model)
    /// (PEFT's `get_nb_trainable_parameters`; trainable needs an autodiff device).
    pub fn param_count(&self) -> ParamCount {
        count_params(&self.model)
    }

    /// Adds an adapter from `config`, initialised as its `init_lora_weights` says (PiSSA and
    /// OLoRA also change the base weights, as in PEFT). It is not activated: see
    /// [`set_adapter`](Self::set_adapter).
    pub fn add_adapter(&mut self, name: &str, config: LoraConfig) -> Result<(), PeftError> {
        if config.lora_dropout > 0.0 {
            return Err(PeftError::config(
                "lora_dropout",
                format!(
                    "is {}: adapters on weights apply no dropout; use 0, or AdaptedLinear (the activation-space path)",
                    config.lora_dropout
                ),
            ));
        }
        self.insert(name, config, None)
    }

    /// Activates the named adapters (PEFT's `set_adapter`): only they change the model and are
    /// trainable. An empty list leaves the base model.
    pub fn set_adapter(&mut self, names: &[&str]) -> Result<(), PeftError> {
        for name in names {
            self.adapter(name)?;
        }
        self.sync();
        self.active = names.iter().map(|n| n.to_string()).collect();
        self.attach();
        Ok(())
    }

    /// Removes an adapter (PEFT's `delete_adapter`). If it was active, the remaining active ones
    /// stay, or else the first remaining adapter becomes active, as in PEFT. A PiSSA or OLoRA
    /// adapter leaves its residual in the base weights.
    pub fn delete_adapter(&mut self, name: &str) -> Result<(), PeftError> {
        self.adapter(name)?;
        self.sync();
        self.adapters.retain(|a| a.name != name);
        self.factors.retain(|(adapter, _), _| adapter != name);
        if self.active.iter().any(|a| a == name) {
            self.active.retain(|a| a != name);
            if self.active.is_empty()
                && let Some(first) = self.adapters.first()
            {
                self.active = vec![first.name.clone()];
            }
        }
        self.attach();
        Ok(())
    }

    /// Adds the adapter `name` combining `adapters` with their weights (PEFT's
    /// `add_weighted_adapter`; see [`add_weighted_adapter`](crate::add_weighted_adapter) for each
    /// combination). Not activated.
    pub fn add_weighted_adapter(
        &mut self,
        adapters: &[(&str, f64)],
        name: &str,
        merge: &WeightedMerge,
    ) -> Result<(), PeftError> {
        let inputs: Vec<(AdapterWeights, f64)> = adapters
            .iter()
            .map(|(n, w)| Ok((self.weights(n)?, *w)))
            .collect::<Result<_, PeftError>>()?;
        let refs: Vec<(&AdapterWeights, f64)> = inputs.iter().map(|(a, w)| (a, *w)).collect();
        let merged = add_weighted_adapter(&refs, merge)?;
        self.insert(name, merged.config.clone(), Some((merged, None)))
    }

    /// PEFT's `forward(..., adapter_names=[...])`: a batch whose rows go through different
    /// adapters, none merged. Row `i` of `input` goes through `adapter_names[i]` ([`BASE_ADAPTER`]:
    /// none): `forward` runs once per adapter named, on the model carrying that adapter alone and
    /// on its rows, and the outputs (rows first) come back in the batch's order. The active
    /// adapters are as before afterwards. Refused as PEFT refuses: a name that is no adapter, a
    /// name count that is not the batch's, a DoRA adapter.
    pub fn forward_mixed<I: Rows, const D: usize>(
        &mut self,
        input: I,
        adapter_names: &[&str],
        mut forward: impl FnMut(&M, I) -> Tensor<D>,
    ) -> Result<Tensor<D>, PeftError> {
        self.check_mixed(input.rows(), adapter_names)?;
        let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
        for (row, &name) in adapter_names.iter().enumerate() {
            match groups.iter_mut().find(|(n, _)| *n == name) {
                Some((_, rows)) => rows.push(row),
                None => groups.push((name, vec![row])),
            }
        }
        self.sync();
        let previous = std::mem::take(&mut self.active);
        let device = input.device();
        let (mut outputs, mut order) = (Vec::new(), Vec::new());
        for (name, rows) in groups {
            self.active = if name == BASE_ADAPTER {
                Vec::new()
            } else {
                vec![name.to_string()]
            };
            self.attach();
            let indices: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
            let indices = Tensor::<1, Int>::from_data(TensorData::new(indices, [rows.len()]), &device);
            outputs.push(forward(&self.model, input.select_rows(&indices)));
            order.extend(rows);
        }
        self.active = previous;
        self.attach();
        // Row `order[k]` of the batch is row `k` of the outputs.
        let mut inverse = vec![0i64; order.len()];
        for (k, &row) in order.iter().enumerate() {
            inverse[row] = k as i64;
        }
        let inverse = Tensor::<1, Int>::from_data(TensorData::new(inverse, [order.len()]), &device);
        Ok(Tensor::cat(outputs, 0).select(0, inverse))
    }

    /// PEFT's checks of `adapter_names`, with its messages.
    fn check_mixed(&self, rows: usize, adapter_names: &[&str]) -> Result<(), PeftError> {
        if adapter_names.len() != rows {
            return Err(PeftError::MixedBatch(format!(
                "Length of `adapter_names` should be the same as the number of inputs, but got {} and {rows} respectively.",
                adapter_names.len()
            )));
        }
        let known = |name: &&str| *name == BASE_ADAPTER || self.adapters.iter().any(|a| a.name == *name);
        let unknown: BTreeSet<&str> = adapter_names.iter().copied().filter(|n| !known(n)).collect();
        if !unknown.is_empty() {
            return Err(PeftError::MixedBatch(format!(
                "Trying to infer with non-existing adapter(s): {}",
                unknown.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let dora = |name: &&str| self.adapters.iter().any(|a| a.name == *name && a.config.use_dora);
        if adapter_names.iter().any(dora) {
            return Err(PeftError::MixedBatch(
                "Cannot pass `adapter_names` when DoRA is enabled.".into(),
            ));
        }
        Ok(())
    }

    /// One adapter's config and tensors, under PEFT names and layouts.
    pub fn weights(&mut self, name: &str) -> Result<AdapterWeights, PeftError> {
        let adapter = self.adapter(name)?.clone();
        self.sync();
        let mut modules = BTreeMap::new();
        for &i in &adapter.targets {
            let factors = &self.factors[&(adapter.name.clone(), self.layers[i].path.clone())];
            let lora_a = to_matrix(&factors.lora_a.val()).transpose();
            let lora_b = to_matrix(&factors.lora_b.val()).transpose();
            let magnitude = factors.magnitude.as_ref().map(|m| vector(&m.val()));
            modules.insert(
                self.peft_name(i),
                ModuleFactors {
                    lora_a,
                    lora_b,
                    magnitude,
                    bias: factors.bias.as_ref().map(|b| vector(&b.val())),
                    kind: self.layers[i].kind,
                },
            );
        }
        Ok(AdapterWeights {
            config: adapter.config,
            modules,
        })
    }

    /// Writes every adapter as PEFT does: `"default"` in `dir`, any other in `dir/<name>`, each
    /// an `adapter_config.json` and an `adapter_model.safetensors` PEFT loads.
    pub fn save_pretrained(&mut self, dir: &Path) -> Result<(), PeftError> {
        for name in self.adapter_names().into_iter().map(str::to_string).collect::<Vec<_>>() {
            let out = if name == DEFAULT_ADAPTER {
                dir.to_path_buf()
            } else {
                dir.join(&name)
            };
            self.weights(&name)?.write(&out)?;
        }
        Ok(())
    }

    /// Loads the PEFT adapter in `dir` onto `model` as `"default"`, active (PEFT's
    /// `PeftModel.from_pretrained`).
    pub fn from_pretrained(model: M, dir: &Path) -> Result<Self, PeftError> {
        Self::from_pretrained_with(model, dir, KeyMap::new())
    }

    /// [`from_pretrained`](Self::from_pretrained) with a [`KeyMap`].
    pub fn from_pretrained_with(model: M, dir: &Path, key_map: KeyMap) -> Result<Self, PeftError> {
        let mut peft = Self::new(model)?.with_key_map(key_map)?;
        peft.load_adapter(dir, DEFAULT_ADAPTER)?;
        peft.set_adapter(&[DEFAULT_ADAPTER])?;
        Ok(peft)
    }

    /// Adds the PEFT adapter in `dir` as `name` (PEFT's `load_adapter`), not activated. Its
    /// modules must be exactly the layers its config selects on this model, with their shapes;
    /// otherwise the error names the file and the key. On error nothing changes.
    pub fn load_adapter(&mut self, dir: &Path, name: &str) -> Result<(), PeftError> {
        let weights = AdapterWeights::read(dir)?;
        self.insert(name, weights.config.clone(), Some((weights, Some(dir.to_path_buf()))))
    }

    /// The model with the active adapters folded into its weights, and no adapters (PEFT's
    /// `merge_and_unload`).
    pub fn merge_and_unload(self) -> M {
        self.model.materialize()
    }

    /// Adds an adapter, initialised by its config, then set from `values` where given.
    fn insert(
        &mut self,
        name: &str,
        config: LoraConfig,
        values: Option<(AdapterWeights, Option<PathBuf>)>,
    ) -> Result<(), PeftError> {
        if self.adapters.iter().any(|a| a.name == name) {
            return Err(PeftError::Adapter {
                name: name.into(),
                message: "already exists".into(),
            });
        }
        // PEFT's "all-linear" is the linear layers only.
        let candidates: Vec<usize> = (0..self.layers.len())
            .filter(|&i| config.target_modules != TargetModules::AllLinear || self.layers[i].kind == LayerKind::Linear)
            .collect();
        let names: Vec<String> = candidates.iter().map(|&i| self.peft_name(i)).collect();
        let selected = config.select_targets(&names)?;
        let targets: Vec<usize> = selected
            .iter()
            .map(|s| candidates[names.iter().position(|n| n == s).expect("selected")])
            .collect();
        if let Some((weights, dir)) = &values {
            self.check_modules(weights, &selected, dir.as_deref())?;
        }
        self.sync();
        let current = params(&self.base);
        let mut residuals: BTreeMap<String, Box<dyn Any>> = BTreeMap::new();
        let mut new = Vec::new();
        for &i in &targets {
            let layer = &self.layers[i];
            let base = current
                .weight(&format!("{}.weight", layer.path))
                .expect("a linear weight");
            let peft_name = self.peft_name(i);
            let module_config = config.for_module(&peft_name);
            if module_config.lora_bias && layer.kind == LayerKind::Embedding {
                return Err(PeftError::config(
                    "lora_bias",
                    format!("lora_bias=True is not supported for Embedding ({peft_name})."),
                ));
            }
            if module_config.lora_bias && !current.bases.contains_key(&format!("{}.bias", layer.path)) {
                return Err(PeftError::config(
                    "lora_bias",
                    format!("{peft_name} has no bias for the adapter's to add to (burn-peft adapts the layer's bias)"),
                ));
            }
            let init = new_factors(&module_config, &base.val(), layer.kind, &peft_name)?;
            let weight = init.residual.clone().unwrap_or_else(|| base.val());
            if let Some(residual) = init.residual {
                residuals.insert(format!("{}.weight", layer.path), Box::new(with_value(base, residual)));
            }
            let loaded = values.as_ref().map(|(w, _)| &w.modules[&peft_name]);
            new.push((
                layer.path.clone(),
                adapter_from(&module_config, init.a, init.b, &weight, loaded),
            ));
        }
        self.base = put_params(self.base.clone(), &residuals);
        for (path, adapter) in new {
            self.factors.insert((name.to_string(), path), adapter);
        }
        self.adapters.push(NamedAdapter {
            name: name.to_string(),
            config,
            targets,
        });
        self.attach();
        Ok(())
    }

    /// A loaded adapter's modules must be the ones its config selects, with this model's shapes.
    /// `source` is the adapter's directory, or `None` for a weighted merge's result.
    fn check_modules(
        &self,
        weights: &AdapterWeights,
        selected: &[String],
        source: Option<&Path>,
    ) -> Result<(), PeftError> {
        let error = |module: &str, kind: LayerKind, message: String| {
            let key = format!("{}{module}.{}", crate::io::KEY_PREFIX, kind.factor_names()[0]);
            match source {
                Some(dir) => PeftError::Tensor {
                    path: dir.join(crate::io::ADAPTER_WEIGHTS_FILE),
                    key,
                    message,
                },
                None => PeftError::Merge(format!("the merged adapter's \"{key}\" {message}")),
            }
        };
        if let Some((extra, factors)) = weights.modules.iter().find(|(m, _)| !selected.contains(m)) {
            return Err(error(
                extra,
                factors.kind,
                format!(
                    "is for a module the model has no such layer for, or that {ADAPTER_CONFIG_FILE}'s target_modules do not select"
                ),
            ));
        }
        for module in selected {
            let layer = self
                .layers
                .iter()
                .find(|l| self.key_map.to_peft(&l.path) == *module)
                .expect("selected from the layers");
            let Some(factors) = weights.modules.get(module) else {
                return Err(error(
                    module,
                    layer.kind,
                    format!("is missing ({ADAPTER_CONFIG_FILE} adapts this module)"),
                ));
            };
            if factors.kind != layer.kind {
                return Err(error(
                    module,
                    factors.kind,
                    format!(
                        "is a {:?} adapter's, but the model's layer is a {:?}",
                        factors.kind, layer.kind
                    ),
                ));
            }
            let [d_in, d_out] = layer.dims;
            if factors.lora_a.ncols() != d_in || factors.lora_b.nrows() != d_out {
                return Err(error(
                    module,
                    layer.kind,
                    format!(
                        "and {} are for a [{}, {}] layer, but the model's is [{d_out}, {d_in}] (another base model?)",
                        layer.kind.factor_names()[1],
                        factors.lora_b.nrows(),
                        factors.lora_a.ncols()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads the live model's parameters back: the base weights (shared with `base`), and the
    /// active adapters' factors as an optimizer left them.
    fn sync(&mut self) {
        let current = params(&self.model);
        self.base = put_params(self.base.clone(), &current.bases);
        for ((param_path, index), found) in current.adapters {
            // A weight's adapters are the active ones; a bias's, those of them with a bias.
            let (path, name) = if let Some(path) = param_path.strip_suffix(".weight") {
                (path.to_string(), self.active_on(path).into_iter().nth(index))
            } else if let Some(path) = param_path.strip_suffix(".bias") {
                (path.to_string(), self.active_biases_on(path).into_iter().nth(index))
            } else {
                continue;
            };
            let Some(name) = name else {
                continue;
            };
            if let Some(stored) = self.factors.get_mut(&(name, path)) {
                if found.bias.is_some() {
                    stored.bias = found.bias;
                }
                if let Some(a) = found.lora_a {
                    stored.lora_a = a;
                }
                if let Some(b) = found.lora_b {
                    stored.lora_b = b;
                }
                if found.magnitude.is_some() {
                    stored.magnitude = found.magnitude;
                }
            }
        }
    }

    /// Rebuilds the live model from `base` and the active adapters' factors (trainable), in
    /// the order of `active`.
    fn attach(&mut self) {
        let mut weights: BTreeMap<String, Vec<WeightAdapter>> = BTreeMap::new();
        let mut biases: BTreeMap<String, Vec<LoraBias>> = BTreeMap::new();
        for layer in &self.layers {
            let adapters: Vec<WeightAdapter> = self
                .active_on(&layer.path)
                .into_iter()
                .map(|name| self.factors[&(name, layer.path.clone())].clone().set_require_grad(true))
                .collect();
            // Each bias goes on the layer's bias alone, so that a parameter sits in one place.
            let lora_biases: Vec<LoraBias> = (adapters.iter())
                .filter_map(|a| {
                    a.bias.clone().map(|bias| LoraBias {
                        bias,
                        scaling: a.scaling,
                    })
                })
                .collect();
            if !lora_biases.is_empty() {
                biases.insert(format!("{}.bias", layer.path), lora_biases);
            }
            let adapters: Vec<WeightAdapter> = adapters
                .into_iter()
                .map(|a| WeightAdapter { bias: None, ..a })
                .collect();
            if !adapters.is_empty() {
                weights.insert(format!("{}.weight", layer.path), adapters);
            }
        }
        self.model = (self.base.clone())
            .apply_reparameterization(Injector { plan: weights })
            .apply_reparameterization(BiasInjector { plan: biases });
    }

    /// The active adapters with a `lora_bias` bias on the layer at `path`, in the order of
    /// `active`.
    fn active_biases_on(&self, path: &str) -> Vec<String> {
        let with_bias = |name: &String| self.factors[&(name.clone(), path.to_string())].bias.is_some();
        self.active_on(path).into_iter().filter(with_bias).collect()
    }

    /// The active adapters on the layer at `path`, in the order of `active`.
    fn active_on(&self, path: &str) -> Vec<String> {
        self.active
            .iter()
            .filter(|name| {
                self.adapters
                    .iter()
                    .any(|a| &a.name == *name && a.targets.iter().any(|&i| self.layers[i].path == path))
            })
            .cloned()
            .collect()
    }

    fn adapter(&self, name: &str) -> Result<&NamedAdapter, PeftError> {
        self.adapters
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| PeftError::Adapter {
                name: name.into(),
                message: format!("does not exist; the adapters are {:?}", self.adapter_names()),
            })
    }

    fn peft_name(&self, layer: usize) -> String {
        self.key_map.to_peft(&self.layers[layer].path)
    }
}

/// The adapter for one layer: `init`'s factors, or the file's `loaded` ones; DoRA's magnitude
/// from the file, or the column norms of `W + s a b` (with `W` what the init left).
fn adapter_from(
    config: &LoraConfig,
    a: Tensor<2>,
    b: Tensor<2>,
    weight: &Tensor<2>,
    loaded: Option<&ModuleFactors>,
) -> WeightAdapter {
    let device = weight.device();
    let dtype = weight.dtype();
    let tensor = |m: &DMatrix<f32>| from_matrix(&m.transpose(), &device).cast(dtype);
    let (a, b) = match loaded {
        Some(f) => (tensor(&f.lora_a), tensor(&f.lora_b)),
        None => (a, b),
    };
    let scaling = config.scaling();
    let magnitude = config.use_dora.then(|| {
        let d_out = weight.dims()[1];
        let m = match loaded.and_then(|f| f.magnitude.as_ref()) {
            Some(m) => Tensor::<1>::from_data(burn::tensor::TensorData::new(m.clone(), [m.len()]), &device).cast(dtype),
            None => column_norms(weight.clone() + a.clone().matmul(b.clone()).mul_scalar(scaling)).reshape([d_out]),
        };
        Param::from_tensor(m.detach())
    });
    // PEFT starts `lora_B.bias` at zero.
    let bias = config.lora_bias.then(|| {
        let d_out = weight.dims()[1];
        let values = loaded.and_then(|f| f.bias.clone()).unwrap_or_else(|| vec![0.0; d_out]);
        Param::from_tensor(Tensor::<1>::from_data(TensorData::new(values, [d_out]), &device).cast(dtype))
    });
    WeightAdapter {
        lora_a: Param::from_tensor(a.detach()),
        lora_b: Param::from_tensor(b.detach()),
        magnitude,
        bias,
        scaling,
    }
}

/// A 1-D tensor's values as f32.
fn vector(t: &Tensor<1>) -> Vec<f32> {
    let n = t.dims()[0];
    to_matrix(&t.clone().reshape([1, n])).iter().copied().collect()
}

/// A batch that splits by rows: a tensor (rows first), or a tuple of tensors sharing their first
/// dimension (`(input_ids, attention_mask)`), for [`PeftModel::forward_mixed`].
pub trait Rows: Sized {
    /// The rows (the first dimension).
    fn rows(&self) -> usize;
    /// The rows at `indices`, in that order.
    fn select_rows(&self, indices: &Tensor<1, Int>) -> Self;
    /// The device the rows are on.
    fn device(&self) -> Device;
}

impl<const D: usize, K: Basic> Rows for Tensor<D, K> {
    fn rows(&self) -> usize {
        self.dims()[0]
    }

    fn select_rows(&self, indices: &Tensor<1, Int>) -> Self {
        self.clone().select(0, indices.clone())
    }

    fn device(&self) -> Device {
        Tensor::device(self)
    }
}

impl<A: Rows, B: Rows> Rows for (A, B) {
    fn rows(&self) -> usize {
        self.0.rows()
    }

    fn select_rows(&self, indices: &Tensor<1, Int>) -> Self {
        (self.0.select_rows(indices), self.1.select_rows(indices))
    }

    fn device(&self) -> Device {
        self.0.device()
    }
}

impl<A: Rows, B: Rows, C: Rows> Rows for (A, B, C) {
    fn rows(&self) -> usize {
        self.0.rows()
    }

    fn select_rows(&self, indices: &Tensor<1, Int>) -> Self {
        let (a, b, c) = self;
        (a.select_rows(indices), b.select_rows(indices), c.select_rows(indices))
    }

    fn device(&self) -> Device {
        self.0.device()
    }
}
