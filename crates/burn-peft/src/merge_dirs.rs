//! Adapter directories combined by [`add_weighted_adapter`]: read, checked to be adapters of
//! one base model, weighted.

use std::path::{Path, PathBuf};

use crate::error::PeftError;
use crate::merge::{WeightedMerge, add_weighted_adapter};
use crate::weights::{AdapterWeights, ModuleFactors};

/// Adapter directories read for a weighted merge, one weight each.
pub struct MergeInputs {
    /// The directories, in order.
    pub dirs: Vec<PathBuf>,
    /// Their adapters.
    pub adapters: Vec<AdapterWeights>,
    /// One weight per adapter.
    pub weights: Vec<f64>,
    /// Doubts the checks could not settle (base models named in ways that cannot be compared).
    pub warnings: Vec<String>,
}

impl MergeInputs {
    /// Reads the adapters of `dirs` and checks that they combine under `merge` (see
    /// [`check_compatible`]); `weights` empty means 1 each.
    pub fn read(dirs: &[PathBuf], weights: &[f64], merge: &WeightedMerge) -> Result<Self, PeftError> {
        let weights = match weights.len() {
            0 => vec![1.0; dirs.len()],
            n if n == dirs.len() => weights.to_vec(),
            n => {
                return Err(PeftError::Incompatible(format!(
                    "--weights has {n} values for {} adapters; give one per --adapter",
                    dirs.len()
                )));
            }
        };
        let adapters = (dirs.iter())
            .map(|dir| {
                AdapterWeights::read(dir).map_err(|e| PeftError::step(format!("reading adapter {}", dir.display()), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut warnings = Vec::new();
        for (dir, adapter) in dirs.iter().zip(&adapters).skip(1) {
            let first = (dirs[0].as_path(), &adapters[0]);
            warnings.extend(check_compatible(first, (dir, adapter), merge)?);
        }
        let dirs = dirs.to_vec();
        Ok(Self {
            dirs,
            adapters,
            weights,
            warnings,
        })
    }

    /// The weighted merge of the adapters.
    pub fn merge(&self, merge: &WeightedMerge) -> Result<AdapterWeights, PeftError> {
        let pairs: Vec<(&AdapterWeights, f64)> = self.adapters.iter().zip(self.weights.iter().copied()).collect();
        let names: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        add_weighted_adapter(&pairs, merge).map_err(|e| PeftError::step(format!("merging {}", names.join(", ")), e))
    }
}

/// Adapters combine only if they are for the same base model (see [`same_base`] where both
/// files name one, and the shapes of the layers both adapt), and, for the combinations that
/// mix factors (all but cat and *svd), adapt the same layers. A warning where the base models'
/// names cannot be compared.
pub fn check_compatible(
    (first_dir, first): (&Path, &AdapterWeights),
    (dir, adapter): (&Path, &AdapterWeights),
    merge: &WeightedMerge,
) -> Result<Option<String>, PeftError> {
    let both = format!("{} and {}", first_dir.display(), dir.display());
    let mut warning = None;
    let names = (
        &first.config.base_model_name_or_path,
        &adapter.config.base_model_name_or_path,
    );
    if let (Some(a), Some(b)) = names {
        match same_base(a, b)? {
            Some(true) => {}
            Some(false) => {
                return Err(PeftError::Incompatible(format!(
                    "{both} are adapters of different base models (base_model_name_or_path {a:?} and {b:?})"
                )));
            }
            None => {
                warning = Some(format!(
                    "{both} name their base models differently (base_model_name_or_path {a:?} and {b:?}) \
                     and they cannot be compared here; merging them as adapters of one model: check that they are"
                ))
            }
        }
    }
    let shape = |f: &ModuleFactors| [f.lora_b.nrows(), f.lora_a.ncols()];
    for (module, factors) in &adapter.modules {
        if let Some(other) = first.modules.get(module).filter(|other| shape(other) != shape(factors)) {
            return Err(PeftError::Incompatible(format!(
                "{both} adapt {module} with shapes {:?} and {:?}: adapters of different base models",
                shape(other),
                shape(factors)
            )));
        }
    }
    let combination = merge.combination;
    if combination.mixes_factors() && first.modules.keys().ne(adapter.modules.keys()) {
        let only = |a: &AdapterWeights, b: &AdapterWeights| {
            a.modules
                .keys()
                .filter(|m| !b.modules.contains_key(*m))
                .cloned()
                .collect::<Vec<_>>()
        };
        return Err(PeftError::Incompatible(format!(
            "{both} adapt different layers (only the first: {:?}; only the second: {:?}); combination {combination} \
             mixes their factors layer by layer, so it needs the same layers: use cat or svd",
            only(first, adapter),
            only(adapter, first)
        )));
    }
    Ok(warning)
}

/// Whether two `base_model_name_or_path` values name one model: equal names; two directories
/// here (a trainer may record absolute paths, so one model may sit in two places) by canonical
/// path or else the bytes of their `model.safetensors`; two Hub ids by name. `None` when the
/// names differ and cannot be resolved to compare (a path that is not here, a directory
/// without `model.safetensors`, or a Hub id against a path).
pub fn same_base(a: &str, b: &str) -> Result<Option<bool>, PeftError> {
    if a == b {
        return Ok(Some(true));
    }
    let (pa, pb) = (Path::new(a), Path::new(b));
    if pa.is_dir() && pb.is_dir() {
        let canonical = |p: &Path| p.canonicalize().map_err(|e| PeftError::io(p, e));
        if canonical(pa)? == canonical(pb)? {
            return Ok(Some(true));
        }
        let (wa, wb) = (pa.join("model.safetensors"), pb.join("model.safetensors"));
        if !(wa.is_file() && wb.is_file()) {
            return Ok(None);
        }
        let read = |p: &Path| std::fs::read(p).map_err(|e| PeftError::io(p, e));
        return Ok(Some(read(&wa)? == read(&wb)?));
    }
    let is_id = |p: &Path| !p.exists() && !p.is_absolute();
    Ok((is_id(pa) && is_id(pb)).then_some(false))
}
