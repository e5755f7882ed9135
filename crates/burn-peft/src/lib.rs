#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod config;
mod error;
mod init;
mod io;
mod key_map;
mod layer;
mod merge;
mod merge_dirs;
mod model;
mod peft_model;
mod reparam;
mod weights;

pub use config::{ExcludeModules, LoraConfig, LoraInit, PEFT_VERSION, TargetModules};
pub use error::PeftError;
pub use io::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LoadedAdapter, load_adapter, read_adapter_config, save_adapter,
    write_adapter_config,
};
pub use key_map::KeyMap;
pub use layer::{AdaptedLinear, Adapter};
pub use merge::{Combination, MajoritySign, WeightedMerge, add_weighted_adapter};
pub use merge_dirs::{MergeInputs, check_compatible, same_base};
pub use model::{
    AdaptableModel, ParamCount, Trainable, adapted_paths, count_params, inject_adapter, mark_trainable, merge_adapters,
    merged_linears, unmerge_adapters,
};
/// The linear algebra crate of [`ModuleFactors`]' matrices.
pub use nalgebra;
pub use peft_model::{BASE_ADAPTER, DEFAULT_ADAPTER, PeftModel, Rows, get_peft_model};
pub use reparam::{LoraBias, PeftBias, PeftWeight, WeightAdapter};
pub use weights::{AdapterWeights, LayerKind, ModuleFactors};
