//! [`LoraConfig`]: PEFT's `LoraConfig` with the same field names and meanings, read from and
//! written to PEFT's `adapter_config.json` (the keys of PEFT 0.21.2).

use std::collections::BTreeMap;
use std::fmt;

use burn::config::Config;
use regex::Regex;
use serde_json::{Map, Value, json};

use crate::error::PeftError;

/// The PEFT release whose `adapter_config.json` keys [`LoraConfig::to_peft`] writes.
pub const PEFT_VERSION: &str = "0.21.2";

/// Which linear layers get an adapter (PEFT's `target_modules`).
#[derive(Config, Debug, PartialEq)]
pub enum TargetModules {
    /// A module path matches an entry when it equals it or ends with `"." + entry`: `"dense"`
    /// matches every `*.dense` layer, `pooler.dense` included; `"attention.output.dense"` only
    /// that one. (A JSON list in `adapter_config.json`.)
    Names(Vec<String>),
    /// A regular expression that must match the whole module path, as Python's `re.fullmatch`.
    /// (A JSON string in `adapter_config.json`.)
    Regex(String),
    /// Every linear layer the model exposes (PEFT's `"all-linear"`).
    AllLinear,
}

/// Layers left out although `target_modules` matches them (PEFT's `exclude_modules`).
#[derive(Config, Debug, PartialEq)]
pub enum ExcludeModules {
    /// A module path is left out when it equals an entry or ends with `"." + entry`. (A JSON
    /// list in `adapter_config.json`.)
    Names(Vec<String>),
    /// A regular expression that must match the whole module path (`re.fullmatch`). (A JSON
    /// string.)
    Regex(String),
}

/// How a new adapter starts (PEFT's `init_lora_weights`).
#[derive(Config, Debug, Copy, PartialEq)]
pub enum LoraInit {
    /// `true`, PEFT's default: A Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in),
    /// 1/sqrt(in)); B zero, so the adapted model starts equal to the base.
    KaimingUniform,
    /// `"gaussian"`: A ~ N(0, std 1/r); B zero.
    Gaussian,
    /// `false`: A and B both as PyTorch's default `Linear` init, U(-1/sqrt(fan_in),
    /// 1/sqrt(fan_in)); the adapter is not a no-op from the start (for tests).
    Random,
    /// `"pissa"`: A and B from the top-r singular triplets of W (scaled so that `s B A` is the
    /// rank-r truncation), and the base weight becomes the residual `W - s B A`.
    Pissa,
    /// `"olora"`: A and B from the first r columns of W's QR factors (`B = Q_r`, `A = R_r`),
    /// and the base weight becomes `W - s B A`.
    Olora,
}

impl LoraInit {
    /// Its value in `adapter_config.json`.
    fn to_peft(self) -> Value {
        match self {
            Self::KaimingUniform => json!(true),
            Self::Gaussian => json!("gaussian"),
            Self::Random => json!(false),
            Self::Pissa => json!("pissa"),
            Self::Olora => json!("olora"),
        }
    }

    /// Whether this initialisation also changes the base weight (to a residual).
    pub fn changes_base(self) -> bool {
        matches!(self, Self::Pissa | Self::Olora)
    }
}

/// A LoRA / DoRA / rsLoRA adapter as Hugging Face PEFT describes it. Every field has PEFT's
/// name, default and meaning. The bias is never trained (PEFT's `bias = "none"`).
#[derive(Config, Debug, PartialEq)]
pub struct LoraConfig {
    /// The linear layers to adapt.
    pub target_modules: TargetModules,
    /// Rank of A `[r, in]` and B `[out, r]`; at least 1.
    #[config(default = 8)]
    pub r: usize,
    /// The adapter's output is scaled by `lora_alpha / r` (`/ sqrt(r)` with rsLoRA).
    #[config(default = 8.0)]
    pub lora_alpha: f64,
    /// Dropout on the adapter's input only (the base layer sees the undropped input).
    #[config(default = 0.0)]
    pub lora_dropout: f64,
    /// Rank-stabilised LoRA: scale by `lora_alpha / sqrt(r)`.
    #[config(default = false)]
    pub use_rslora: bool,
    /// DoRA: a trained magnitude per output unit times the normalised adapted weight.
    #[config(default = false)]
    pub use_dora: bool,
    /// How the factors start (PEFT's `init_lora_weights`).
    #[config(default = "LoraInit::KaimingUniform")]
    pub init_lora_weights: LoraInit,
    /// A trained bias in B (`lora_B.bias`, starting at zero): the layer's bias gains `s` times
    /// it. Linear layers with a bias only, on [`PeftModel`](crate::PeftModel)'s weight path.
    #[config(default = false)]
    pub lora_bias: bool,
    /// Only adapt layers whose index (the number after the layer list's name in the path, e.g.
    /// `encoder.layer.3.…`) is listed. As in PEFT this filters suffix matches of a
    /// [`TargetModules::Names`] list only, not exact paths or a regex.
    pub layers_to_transform: Option<Vec<usize>>,
    /// The name of the layer list for `layers_to_transform` (e.g. `layer`); by default any.
    pub layers_pattern: Option<Vec<String>>,
    /// Per-module ranks: a layer whose path matches a key as PEFT's `get_pattern_key` matches
    /// (the regex `(.*\.)?(key)$` from the path's start) takes that `r`.
    #[config(default = "BTreeMap::new()")]
    pub rank_pattern: BTreeMap<String, usize>,
    /// Per-module `lora_alpha`, matched as `rank_pattern`.
    #[config(default = "BTreeMap::new()")]
    pub alpha_pattern: BTreeMap<String, f64>,
    /// Layers not to adapt even where `target_modules` matches them.
    pub exclude_modules: Option<ExcludeModules>,
    /// Informational, kept through load and save.
    pub base_model_name_or_path: Option<String>,
    /// Informational (PEFT's task type, e.g. `FEATURE_EXTRACTION`), kept through load and save.
    pub task_type: Option<String>,
}

/// The values of `init_lora_weights` burn-peft reads.
const INITS: &str = "true, false, \"gaussian\", \"pissa\" or \"olora\"";

/// PEFT features burn-peft does not implement. A file that turns one on is refused rather than
/// loaded into a model that would then compute something else.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("alora_invocation_tokens", "activated LoRA (aLoRA)"),
    ("arrow_config", "Arrow routing"),
    ("corda_config", "CorDA initialisation"),
    ("eva_config", "EVA initialisation"),
    ("fan_in_fan_out", "base weights stored [in, out] (Conv1D)"),
    ("kasa_config", "KaSA"),
    ("layer_replication", "layer replication"),
    ("loftq_config", "LoftQ initialisation"),
    ("lora_ga_config", "LoRA-GA initialisation"),
    ("megatron_config", "Megatron parallel layers"),
    ("modules_to_save", "fully trained extra modules"),
    ("monteclora_config", "MonteCLoRA"),
    ("target_parameters", "adapters on bare parameters"),
    ("trainable_token_indices", "trainable token embeddings"),
    ("use_bdlora", "BD-LoRA"),
    ("use_qalora", "QA-LoRA"),
    ("velora_config", "VeLoRA"),
];

impl LoraConfig {
    /// The factor on the adapter's output: `lora_alpha / r`, or `lora_alpha / sqrt(r)` with
    /// rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// The config of the layer at `path`: `r` and `lora_alpha` from the first key of
    /// `rank_pattern` and `alpha_pattern` that matches it (keys in sorted order; PEFT tries
    /// them in the file's order, and [`validate`](Self::validate) refuses keys that match one
    /// path with different values), the patterns themselves left out.
    pub fn for_module(&self, path: &str) -> LoraConfig {
        let mut config = self.clone();
        if let Some(&r) = pattern_value(&self.rank_pattern, path) {
            config.r = r;
        }
        if let Some(&alpha) = pattern_value(&self.alpha_pattern, path) {
            config.lora_alpha = alpha;
        }
        config.rank_pattern.clear();
        config.alpha_pattern.clear();
        config
    }

    /// Checks the values PEFT would also refuse, and compiles the patterns.
    pub fn validate(&self) -> Result<(), PeftError> {
        if self.r == 0 {
            return Err(PeftError::config("r", "must be at least 1, got 0"));
        }
        if !self.lora_alpha.is_finite() {
            return Err(PeftError::config(
                "lora_alpha",
                format!("must be a finite number, got {}", self.lora_alpha),
            ));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(PeftError::config(
                "lora_dropout",
                format!("must be in [0, 1), got {}", self.lora_dropout),
            ));
        }
        if let TargetModules::Names(names) = &self.target_modules
            && names.is_empty()
        {
            return Err(PeftError::config("target_modules", "is an empty list"));
        }
        // PEFT's refusals, with its messages.
        if self.lora_bias && !matches!(self.init_lora_weights, LoraInit::KaimingUniform | LoraInit::Random) {
            let init = match self.init_lora_weights.to_peft() {
                Value::String(s) => s,
                value => value.to_string(),
            };
            return Err(PeftError::config(
                "lora_bias",
                format!(
                    "The argument lora_bias=True is only supported with init_lora_weights=True or False, got init_lora_weights={init} instead."
                ),
            ));
        }
        if self.lora_bias && self.use_dora {
            return Err(PeftError::config(
                "lora_bias",
                "The argument lora_bias=True is not supported for DoRA, please pass use_dora=False",
            ));
        }
        self.compiled_patterns()?;
        self.excluded(&[])?;
        check_patterns("rank_pattern", &self.rank_pattern, |&r| r >= 1, "a rank of at least 1")?;
        check_patterns(
            "alpha_pattern",
            &self.alpha_pattern,
            |a| a.is_finite(),
            "a finite number",
        )
    }

    /// The paths among `available` (a model's linear layers) that this config adapts, in their
    /// order. Matching nothing is an error that lists `available`.
    pub fn select_targets(&self, available: &[String]) -> Result<Vec<String>, PeftError> {
        self.validate()?;
        let (whole_path, layer_index) = self.compiled_patterns()?;
        let matched: Vec<&String> = available
            .iter()
            .filter(|path| match &self.target_modules {
                TargetModules::AllLinear => true,
                TargetModules::Regex(_) => whole_path.as_ref().is_some_and(|re| re.is_match(path)),
                // PEFT's order: an exact path is taken as is; a suffix match then goes through
                // the layer filter.
                TargetModules::Names(names) => {
                    names.iter().any(|n| n == *path)
                        || (names
                            .iter()
                            .any(|n| path.strip_suffix(n.as_str()).is_some_and(|rest| rest.ends_with('.')))
                            && self.in_transformed_layers(path, &layer_index))
                }
            })
            .collect();
        if matched.is_empty() {
            return Err(self.no_match(available));
        }
        let excluded = self.excluded(available)?;
        let selected: Vec<String> = (matched.iter())
            .filter(|path| !excluded.contains(path))
            .map(|path| path.to_string())
            .collect();
        if selected.is_empty() {
            let excluded = matched.into_iter().cloned().collect();
            return Err(PeftError::AllExcluded { excluded });
        }
        for path in &selected {
            one_value("rank_pattern", &self.rank_pattern, path)?;
            one_value("alpha_pattern", &self.alpha_pattern, path)?;
        }
        Ok(selected)
    }

    /// `target_modules` (and `layers_to_transform`) matching none of `available`.
    fn no_match(&self, available: &[String]) -> PeftError {
        let targets = match &self.target_modules {
            TargetModules::Names(names) => format!("{names:?}"),
            TargetModules::Regex(re) => format!("{re:?} (a regex)"),
            TargetModules::AllLinear => "\"all-linear\"".into(),
        };
        let filter = match &self.layers_to_transform {
            Some(layers) if !layers.is_empty() => format!(" in layers {layers:?}"),
            _ => String::new(),
        };
        PeftError::NoMatch {
            targets: targets + &filter,
            available: available.to_vec(),
        }
    }

    /// The paths among `available` that `exclude_modules` leaves out, as PEFT matches them.
    fn excluded<'a>(&self, available: &'a [String]) -> Result<Vec<&'a String>, PeftError> {
        let excluded = match &self.exclude_modules {
            None => Vec::new(),
            Some(ExcludeModules::Names(names)) => (available.iter())
                .filter(|path| names.iter().any(|n| n == *path || path.ends_with(&format!(".{n}"))))
                .collect(),
            Some(ExcludeModules::Regex(re)) => {
                let whole = Regex::new(&format!("^(?:{re})$")).map_err(|e| {
                    PeftError::config("exclude_modules", format!("is not a valid regular expression: {e}"))
                })?;
                available.iter().filter(|path| whole.is_match(path)).collect()
            }
        };
        Ok(excluded)
    }

    /// The whole-path regex of [`TargetModules::Regex`], and PEFT's patterns that find a layer
    /// index in a path (`.*\.<layers_pattern>\.(\d+)\.`, any name when there is no pattern).
    fn compiled_patterns(&self) -> Result<(Option<Regex>, Vec<Regex>), PeftError> {
        let compile = |key: &str, pattern: String| {
            Regex::new(&pattern).map_err(|e| PeftError::config(key, format!("is not a valid regular expression: {e}")))
        };
        let whole_path = match &self.target_modules {
            TargetModules::Regex(re) => Some(compile("target_modules", format!("^(?:{re})$"))?),
            _ => None,
        };
        let layer_index = match &self.layers_pattern {
            Some(patterns) if !patterns.is_empty() => patterns
                .iter()
                .map(|p| compile("layers_pattern", format!(r"^.*\.{p}\.(\d+)\.")))
                .collect::<Result<_, _>>()?,
            _ => vec![compile("layers_pattern", r"^.*\.[^.]*\.(\d+)\.".into())?],
        };
        Ok((whole_path, layer_index))
    }

    fn in_transformed_layers(&self, path: &str, layer_index: &[Regex]) -> bool {
        let Some(layers) = self.layers_to_transform.as_ref().filter(|l| !l.is_empty()) else {
            return true;
        };
        layer_index
            .iter()
            .find_map(|re| re.captures(path))
            .and_then(|c| c[1].parse::<usize>().ok())
            .is_some_and(|i| layers.contains(&i))
    }

    /// Reads PEFT's `adapter_config.json` object. Missing keys take PEFT's defaults; unknown
    /// keys are ignored (newer PEFT releases add some); a PEFT feature burn-peft does not
    /// implement is an error naming its key.
    pub fn from_peft(map: &Map<String, Value>) -> Result<Self, PeftError> {
        let get = |key: &str| map.get(key).filter(|v| !v.is_null());
        let wrong = |key: &str, expected: &str| {
            PeftError::config(
                key,
                format!("is {}, expected {expected}", map.get(key).unwrap_or(&Value::Null)),
            )
        };
        match get("peft_type").and_then(Value::as_str) {
            Some("LORA") => {}
            Some(_) => {
                return Err(wrong(
                    "peft_type",
                    "\"LORA\" (burn-peft reads LoRA and DoRA adapters only)",
                ));
            }
            None => return Err(PeftError::config("peft_type", "is missing, expected \"LORA\"")),
        }
        for (key, feature) in UNSUPPORTED {
            if let Some(value) = get(key).filter(|v| !is_off(v)) {
                return Err(PeftError::config(
                    key,
                    format!("is {value}: {feature} is not supported by burn-peft"),
                ));
            }
        }
        if let Some(bias) = get("bias").filter(|b| b.as_str() != Some("none")) {
            return Err(PeftError::config(
                "bias",
                format!("is {bias}: only \"none\" is supported (no trained biases)"),
            ));
        }
        let init_lora_weights = match get("init_lora_weights") {
            None | Some(Value::Bool(true)) => LoraInit::KaimingUniform,
            Some(Value::Bool(false)) => LoraInit::Random,
            Some(Value::String(s)) if s == "gaussian" => LoraInit::Gaussian,
            Some(Value::String(s)) if s == "pissa" => LoraInit::Pissa,
            Some(Value::String(s)) if s == "olora" => LoraInit::Olora,
            Some(Value::String(s)) => {
                return Err(PeftError::config(
                    "init_lora_weights",
                    format!("is {s:?}: this initialisation is not supported by burn-peft ({INITS})"),
                ));
            }
            Some(_) => return Err(wrong("init_lora_weights", INITS)),
        };
        let target_modules = match get("target_modules") {
            Some(Value::String(s)) if s == "all-linear" => TargetModules::AllLinear,
            Some(Value::String(s)) => TargetModules::Regex(s.clone()),
            Some(Value::Array(items)) => TargetModules::Names(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| wrong("target_modules", "a list of module names"))?,
            ),
            Some(_) => return Err(wrong("target_modules", "a list of module names or a regex string")),
            None => {
                return Err(PeftError::config(
                    "target_modules",
                    "is missing: burn-peft needs the modules to adapt (PEFT would guess them from the model type)",
                ));
            }
        };
        let layers_to_transform = match get("layers_to_transform") {
            None => None,
            Some(v) if v.is_u64() => Some(vec![v.as_u64().unwrap() as usize]),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_u64().map(|i| i as usize))
                    .collect::<Option<_>>()
                    .ok_or_else(|| wrong("layers_to_transform", "a layer index or a list of them"))?,
            ),
            Some(_) => return Err(wrong("layers_to_transform", "a layer index or a list of them")),
        };
        let layers_pattern = match get("layers_pattern") {
            None => None,
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| wrong("layers_pattern", "a name or a list of names"))?,
            ),
            Some(_) => return Err(wrong("layers_pattern", "a name or a list of names")),
        };
        let exclude_modules = match get("exclude_modules") {
            None => None,
            Some(Value::String(s)) => Some(ExcludeModules::Regex(s.clone())),
            Some(Value::Array(items)) if items.is_empty() => None,
            Some(Value::Array(items)) => Some(ExcludeModules::Names(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| wrong("exclude_modules", "a list of module names or a regex string"))?,
            )),
            Some(_) => return Err(wrong("exclude_modules", "a list of module names or a regex string")),
        };
        let rank_pattern = read_pattern(map, "rank_pattern", "a positive integer", |v| {
            v.as_u64().map(|r| r as usize)
        })?;
        let alpha_pattern = read_pattern(map, "alpha_pattern", "a number", Value::as_f64)?;
        let number = |key: &str, default: f64| match get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| wrong(key, "a number")),
        };
        let flag = |key: &str| match get(key) {
            None => Ok(false),
            Some(v) => v.as_bool().ok_or_else(|| wrong(key, "true or false")),
        };
        let text = |key: &str| match get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| wrong(key, "a string")),
        };
        let r = match get("r") {
            None => 8,
            Some(v) => v.as_u64().ok_or_else(|| wrong("r", "a positive integer"))? as usize,
        };
        let config = Self {
            target_modules,
            r,
            lora_alpha: number("lora_alpha", 8.0)?,
            lora_dropout: number("lora_dropout", 0.0)?,
            use_rslora: flag("use_rslora")?,
            use_dora: flag("use_dora")?,
            lora_bias: flag("lora_bias")?,
            init_lora_weights,
            layers_to_transform,
            layers_pattern,
            rank_pattern,
            alpha_pattern,
            exclude_modules,
            base_model_name_or_path: text("base_model_name_or_path")?,
            task_type: text("task_type")?,
        };
        config.validate()?;
        Ok(config)
    }

    /// PEFT's `adapter_config.json` object: every key PEFT 0.21.2 writes, features burn-peft does
    /// not implement at their "off" values, so PEFT loads the file as it would its own.
    pub fn to_peft(&self) -> Map<String, Value> {
        let target_modules = match &self.target_modules {
            // PEFT keeps the list as a set; sorted, the file is reproducible.
            TargetModules::Names(names) => json!(sorted_unique(names)),
            TargetModules::Regex(re) => json!(re),
            TargetModules::AllLinear => json!("all-linear"),
        };
        let exclude_modules = match &self.exclude_modules {
            None => Value::Null,
            Some(ExcludeModules::Names(names)) => json!(sorted_unique(names)),
            Some(ExcludeModules::Regex(re)) => json!(re),
        };
        let init_lora_weights = self.init_lora_weights.to_peft();
        // PEFT writes an integer alpha as an integer.
        let lora_alpha = if self.lora_alpha.fract() == 0.0 && self.lora_alpha.abs() < 1e15 {
            json!(self.lora_alpha as i64)
        } else {
            json!(self.lora_alpha)
        };
        let value = json!({
            "alora_invocation_tokens": null,
            "alpha_pattern": self.alpha_pattern,
            "arrow_config": null,
            "auto_mapping": null,
            "base_model_name_or_path": self.base_model_name_or_path,
            "bias": "none",
            "corda_config": null,
            "ensure_weight_tying": false,
            "eva_config": null,
            "exclude_modules": exclude_modules,
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": init_lora_weights,
            "kasa_config": null,
            "layer_replication": null,
            "layers_pattern": self.layers_pattern,
            "layers_to_transform": self.layers_to_transform,
            "loftq_config": {},
            "lora_alpha": lora_alpha,
            "lora_bias": self.lora_bias,
            "lora_dropout": self.lora_dropout,
            "lora_ga_config": null,
            "megatron_config": null,
            "megatron_core": "megatron.core",
            "modules_to_save": null,
            "monteclora_config": null,
            "peft_type": "LORA",
            "peft_version": PEFT_VERSION,
            "qalora_group_size": 16,
            "r": self.r,
            "rank_pattern": self.rank_pattern,
            "revision": null,
            "target_modules": target_modules,
            "target_parameters": null,
            "task_type": self.task_type,
            "trainable_token_indices": null,
            "use_bdlora": null,
            "use_dora": self.use_dora,
            "use_qalora": false,
            "use_rslora": self.use_rslora,
            "velora_config": null,
        });
        match value {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }
}

/// PEFT's `get_pattern_key`: a key matches `path` when `(.*\.)?(key)$` matches from its start.
/// An invalid regex matches nothing ([`LoraConfig::validate`] reports it).
fn pattern_matches(key: &str, path: &str) -> bool {
    pattern_regex(key).is_ok_and(|re| re.is_match(path))
}

/// The regex of a `rank_pattern` / `alpha_pattern` key.
fn pattern_regex(key: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!(r"^(?:.*\.)?(?:{key})$"))
}

/// The value of the first key of `patterns` that matches `path`.
fn pattern_value<'a, V>(patterns: &'a BTreeMap<String, V>, path: &str) -> Option<&'a V> {
    patterns
        .iter()
        .find(|(key, _)| pattern_matches(key, path))
        .map(|(_, v)| v)
}

/// Refuses keys of `patterns` that match `path` with different values: PEFT takes the first in
/// the file's order, which a JSON object read here does not keep.
fn one_value<V: PartialEq + fmt::Debug>(
    name: &str,
    patterns: &BTreeMap<String, V>,
    path: &str,
) -> Result<(), PeftError> {
    let mut matching = patterns.iter().filter(|(key, _)| pattern_matches(key, path));
    let Some((first, value)) = matching.next() else {
        return Ok(());
    };
    match matching.find(|(_, v)| *v != value) {
        None => Ok(()),
        Some((other, v)) => Err(PeftError::config(
            name,
            format!(
                "keys {first:?} ({value:?}) and {other:?} ({v:?}) both match {path}; PEFT would take the first in the \
                 file's order: keep one"
            ),
        )),
    }
}

/// Checks a `rank_pattern` or `alpha_pattern`: valid regexes, valid values.
fn check_patterns<V: fmt::Debug>(
    name: &str,
    patterns: &BTreeMap<String, V>,
    valid: impl Fn(&V) -> bool,
    expected: &str,
) -> Result<(), PeftError> {
    for (key, value) in patterns {
        if let Err(e) = pattern_regex(key) {
            return Err(PeftError::config(
                name,
                format!("key {key:?} is not a valid regular expression: {e}"),
            ));
        }
        if !valid(value) {
            return Err(PeftError::config(
                name,
                format!("{key:?} is {value:?}, expected {expected}"),
            ));
        }
    }
    Ok(())
}

/// A `rank_pattern` or `alpha_pattern` object of `adapter_config.json` (null or absent: empty).
fn read_pattern<V>(
    map: &Map<String, Value>,
    name: &str,
    expected: &str,
    read: impl Fn(&Value) -> Option<V>,
) -> Result<BTreeMap<String, V>, PeftError> {
    let Some(value) = map.get(name).filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let object = value
        .as_object()
        .ok_or_else(|| PeftError::config(name, format!("is {value}, expected an object of module patterns")))?;
    let entry = |(key, v): (&String, &Value)| {
        read(v)
            .map(|v| (key.clone(), v))
            .ok_or_else(|| PeftError::config(name, format!("{key:?} is {v}, expected {expected}")))
    };
    object.iter().map(entry).collect()
}

/// A name list as PEFT writes its sets, sorted so that the file is reproducible.
fn sorted_unique(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    names
}

/// PEFT's "off" for an optional feature: null, false, an empty object or list.
fn is_off(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bert_paths() -> Vec<String> {
        let mut paths = Vec::new();
        for i in 0..2 {
            for name in [
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
                "intermediate.dense",
                "output.dense",
            ] {
                paths.push(format!("encoder.layer.{i}.{name}"));
            }
        }
        paths.push("pooler.dense".into());
        paths
    }

    fn names(list: &[&str]) -> TargetModules {
        TargetModules::Names(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_name_matches_itself_or_a_dotted_suffix() {
        let config = LoraConfig::new(names(&["dense"]));
        let selected = config.select_targets(&bert_paths()).unwrap();
        assert_eq!(
            selected,
            [
                "encoder.layer.0.attention.output.dense",
                "encoder.layer.0.intermediate.dense",
                "encoder.layer.0.output.dense",
                "encoder.layer.1.attention.output.dense",
                "encoder.layer.1.intermediate.dense",
                "encoder.layer.1.output.dense",
                "pooler.dense",
            ]
        );
        let config = LoraConfig::new(names(&["attention.output.dense", "pooler.dense"]));
        assert_eq!(
            config.select_targets(&bert_paths()).unwrap(),
            [
                "encoder.layer.0.attention.output.dense",
                "encoder.layer.1.attention.output.dense",
                "pooler.dense",
            ]
        );
        // A suffix must start at a dot: "ense" or "f.query" are not module names.
        let config = LoraConfig::new(names(&["ense", "f.query"]));
        assert!(matches!(
            config.select_targets(&bert_paths()),
            Err(PeftError::NoMatch { .. })
        ));
    }

    #[test]
    fn a_regex_must_match_the_whole_path() {
        let config = LoraConfig::new(TargetModules::Regex(r"encoder\.layer\.1\..*\.(query|value)".into()));
        assert_eq!(
            config.select_targets(&bert_paths()).unwrap(),
            [
                "encoder.layer.1.attention.self.query",
                "encoder.layer.1.attention.self.value",
            ]
        );
        // re.fullmatch: "query" alone matches no whole path.
        let config = LoraConfig::new(TargetModules::Regex("query".into()));
        assert!(matches!(
            config.select_targets(&bert_paths()),
            Err(PeftError::NoMatch { .. })
        ));
        let config = LoraConfig::new(TargetModules::Regex("(query".into()));
        let err = config.select_targets(&bert_paths()).unwrap_err().to_string();
        assert!(
            err.starts_with("\"target_modules\": is not a valid regular expression"),
            "{err}"
        );
    }

    #[test]
    fn layers_to_transform_filters_suffix_matches_only() {
        let config = LoraConfig::new(names(&["query", "encoder.layer.0.attention.self.value"]))
            .with_layers_to_transform(Some(vec![1]));
        assert_eq!(
            config.select_targets(&bert_paths()).unwrap(),
            [
                "encoder.layer.0.attention.self.value",
                "encoder.layer.1.attention.self.query",
            ]
        );
        let config = LoraConfig::new(names(&["query"]))
            .with_layers_to_transform(Some(vec![0]))
            .with_layers_pattern(Some(vec!["layer".into()]));
        assert_eq!(
            config.select_targets(&bert_paths()).unwrap(),
            ["encoder.layer.0.attention.self.query"]
        );
        let config = LoraConfig::new(names(&["query"]))
            .with_layers_to_transform(Some(vec![0]))
            .with_layers_pattern(Some(vec!["blocks".into()]));
        assert!(matches!(
            config.select_targets(&bert_paths()),
            Err(PeftError::NoMatch { .. })
        ));
    }

    #[test]
    fn a_target_that_matches_nothing_lists_the_available_paths() {
        let config = LoraConfig::new(names(&["q_proj", "v_proj"]));
        let err = config.select_targets(&bert_paths()).unwrap_err().to_string();
        assert!(
            err.starts_with("target_modules [\"q_proj\", \"v_proj\"] match none of the model's linear layers"),
            "{err}"
        );
        assert!(
            err.contains("available: encoder.layer.0.attention.self.query, encoder.layer.0.attention.self.key"),
            "{err}"
        );
        assert!(err.ends_with("pooler.dense"), "{err}");
    }

    #[test]
    fn exclude_modules_leaves_out_names_suffixes_or_whole_path_matches() {
        let exclude = |e: ExcludeModules| LoraConfig::new(names(&["query", "dense"])).with_exclude_modules(Some(e));
        let by_name = exclude(ExcludeModules::Names(vec![
            "dense".into(),
            "encoder.layer.1.attention.self.query".into(),
        ]));
        assert_eq!(
            by_name.select_targets(&bert_paths()).unwrap(),
            ["encoder.layer.0.attention.self.query"]
        );
        // A regex must match the whole path: `layer.1` alone matches none.
        let by_regex = exclude(ExcludeModules::Regex(r"encoder\.layer\.1\..*|pooler.*".into()));
        let selected = by_regex.select_targets(&bert_paths()).unwrap();
        assert_eq!(selected.len(), 4, "{selected:?}");
        assert!(
            selected.iter().all(|p| p.starts_with("encoder.layer.0.")),
            "{selected:?}"
        );
        let partial = exclude(ExcludeModules::Regex(r"layer\.1".into()));
        assert_eq!(partial.select_targets(&bert_paths()).unwrap().len(), 9);

        let everything = exclude(ExcludeModules::Regex(".*".into()));
        let err = everything.select_targets(&bert_paths()).unwrap_err();
        assert!(
            matches!(&err, PeftError::AllExcluded { excluded } if excluded.len() == 9),
            "{err}"
        );
        assert!(err.to_string().starts_with("All modules were excluded."), "{err}");
        let bad = exclude(ExcludeModules::Regex("(query".into())).validate().unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("\"exclude_modules\": is not a valid regular expression"),
            "{bad}"
        );
    }

    #[test]
    fn rank_and_alpha_patterns_match_as_peft_get_pattern_key() {
        let patterns = |ranks: &[(&str, usize)]| {
            let config = LoraConfig::new(names(&["query", "value"]))
                .with_r(4)
                .with_lora_alpha(8.0);
            config.with_rank_pattern(ranks.iter().map(|&(k, r)| (k.to_string(), r)).collect())
        };
        let config = patterns(&[("layer.1.attention.self.query", 2)])
            .with_alpha_pattern([("value".to_string(), 2.0)].into_iter().collect());
        let module = |path: &str| {
            let m = config.for_module(path);
            (m.r, m.lora_alpha, m.rank_pattern.is_empty())
        };
        assert_eq!(module("encoder.layer.1.attention.self.query"), (2, 8.0, true));
        assert_eq!(module("encoder.layer.0.attention.self.query"), (4, 8.0, true));
        assert_eq!(module("encoder.layer.0.attention.self.value"), (4, 2.0, true));
        // A key is matched from the path's start after a dotted prefix: `ery` is no suffix key.
        assert_eq!(
            patterns(&[("ery", 1)])
                .for_module("encoder.layer.0.attention.self.query")
                .r,
            4
        );
        assert_eq!(
            patterns(&[("^encoder.*query", 1)])
                .for_module("encoder.layer.0.attention.self.query")
                .r,
            1
        );

        // Two keys that give one layer different ranks: PEFT's choice depends on the file's order.
        let err = patterns(&[("query", 2), ("self.query", 3)])
            .select_targets(&bert_paths())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("\"rank_pattern\": keys \"query\" (2) and \"self.query\" (3) both match encoder.layer.0"),
            "{err}"
        );
        assert!(
            patterns(&[("query", 2), ("self.query", 2)])
                .select_targets(&bert_paths())
                .is_ok()
        );
        let err = patterns(&[("query", 0)]).validate().unwrap_err().to_string();
        assert_eq!(err, "\"rank_pattern\": \"query\" is 0, expected a rank of at least 1");
        let err = patterns(&[("(query", 2)]).validate().unwrap_err().to_string();
        assert!(
            err.starts_with("\"rank_pattern\": key \"(query\" is not a valid regular expression"),
            "{err}"
        );
    }

    #[test]
    fn rank_and_alpha_patterns_read_and_write_as_peft_does() {
        let config = peft(json!({"rank_pattern": {"value": 2}, "alpha_pattern": {"query": 16}})).unwrap();
        assert_eq!(config.rank_pattern, [("value".to_string(), 2)].into_iter().collect());
        assert_eq!(
            config.alpha_pattern,
            [("query".to_string(), 16.0)].into_iter().collect()
        );
        let map = config.to_peft();
        assert_eq!(
            (map["rank_pattern"].clone(), map["alpha_pattern"].clone()),
            (json!({"value": 2}), json!({"query": 16.0}))
        );
        assert_eq!(LoraConfig::from_peft(&map).unwrap(), config);
        let err = peft(json!({"rank_pattern": {"value": 1.5}})).unwrap_err().to_string();
        assert_eq!(err, "\"rank_pattern\": \"value\" is 1.5, expected a positive integer");
        let err = peft(json!({"alpha_pattern": ["query"]})).unwrap_err().to_string();
        assert_eq!(
            err,
            "\"alpha_pattern\": is [\"query\"], expected an object of module patterns"
        );
        assert!(peft(json!({"rank_pattern": null})).unwrap().rank_pattern.is_empty());
    }

    #[test]
    fn exclude_modules_reads_and_writes_as_peft_does() {
        let excluded = |value: Value| peft(json!({ "exclude_modules": value })).map(|c| c.exclude_modules);
        let names = ExcludeModules::Names(vec!["pooler.dense".into()]);
        assert_eq!(excluded(json!(["pooler.dense"])).unwrap(), Some(names));
        assert_eq!(
            excluded(json!("pool.*")).unwrap(),
            Some(ExcludeModules::Regex("pool.*".into()))
        );
        assert_eq!(excluded(json!([])).unwrap(), None);
        let err = excluded(json!(3)).unwrap_err().to_string();
        assert_eq!(
            err,
            "\"exclude_modules\": is 3, expected a list of module names or a regex string"
        );
        let config = LoraConfig::new(TargetModules::AllLinear)
            .with_exclude_modules(Some(ExcludeModules::Names(vec!["value".into(), "key".into()])));
        assert_eq!(config.to_peft()["exclude_modules"], json!(["key", "value"]));
        assert_eq!(
            LoraConfig::new(TargetModules::AllLinear).to_peft()["exclude_modules"],
            Value::Null
        );
    }

    #[test]
    fn rank_zero_and_bad_values_are_rejected() {
        let err = LoraConfig::new(TargetModules::AllLinear)
            .with_r(0)
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(err, "\"r\": must be at least 1, got 0");
        let err = LoraConfig::new(TargetModules::AllLinear)
            .with_lora_dropout(1.0)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"lora_dropout\""), "{err}");
        let err = LoraConfig::new(names(&[])).validate().unwrap_err().to_string();
        assert!(err.contains("\"target_modules\": is an empty list"), "{err}");
    }

    #[test]
    fn scaling_is_alpha_over_r_or_over_sqrt_r() {
        let config = LoraConfig::new(TargetModules::AllLinear).with_r(4).with_lora_alpha(8.0);
        assert_eq!(config.scaling(), 2.0);
        assert_eq!(config.with_use_rslora(true).scaling(), 4.0);
        // PEFT's defaults: r = 8, alpha = 8.
        assert_eq!(LoraConfig::new(TargetModules::AllLinear).scaling(), 1.0);
    }

    fn peft(value: Value) -> Result<LoraConfig, PeftError> {
        let mut map = json!({"peft_type": "LORA", "target_modules": ["query"]})
            .as_object()
            .unwrap()
            .clone();
        map.extend(value.as_object().unwrap().clone());
        LoraConfig::from_peft(&map)
    }

    #[test]
    fn unsupported_peft_features_are_errors_naming_the_key() {
        for (key, value) in [
            ("loftq_config", json!({"loftq_bits": 4})),
            ("modules_to_save", json!(["classifier"])),
            ("use_qalora", json!(true)),
            ("fan_in_fan_out", json!(true)),
            ("bias", json!("all")),
            ("bias", json!("lora_only")),
            ("init_lora_weights", json!("pissa_niter_4")),
            ("init_lora_weights", json!("eva")),
            ("init_lora_weights", json!("loftq")),
            ("peft_type", json!("IA3")),
        ] {
            let mut change = Map::new();
            change.insert(key.into(), value.clone());
            let err = peft(Value::Object(change)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("\"{key}\": is {value}")),
                "{key} = {value}: {err}"
            );
        }
        let err = peft(json!({"r": 0})).unwrap_err().to_string();
        assert_eq!(err, "\"r\": must be at least 1, got 0");
        let mut map = Map::new();
        map.insert("peft_type".into(), json!("LORA"));
        let err = LoraConfig::from_peft(&map).unwrap_err().to_string();
        assert!(err.starts_with("\"target_modules\": is missing"), "{err}");
    }

    #[test]
    fn peft_defaults_values_and_unknown_keys() {
        let config =
            peft(json!({"a_key_from_a_future_peft": {"x": 1}, "loftq_config": {}, "modules_to_save": null})).unwrap();
        assert_eq!(config, LoraConfig::new(names(&["query"])));
        let config = peft(json!({
            "r": 16, "lora_alpha": 32, "lora_dropout": 0.1, "use_rslora": true, "use_dora": true,
            "init_lora_weights": "gaussian", "target_modules": "all-linear", "layers_to_transform": 2,
            "layers_pattern": "layer", "task_type": "FEATURE_EXTRACTION",
        }))
        .unwrap();
        assert_eq!(config.r, 16);
        assert_eq!(config.lora_alpha, 32.0);
        assert_eq!(config.lora_dropout, 0.1);
        assert!(config.use_rslora && config.use_dora);
        assert_eq!(config.init_lora_weights, LoraInit::Gaussian);
        assert_eq!(config.target_modules, TargetModules::AllLinear);
        assert_eq!(config.layers_to_transform, Some(vec![2]));
        assert_eq!(config.layers_pattern, Some(vec!["layer".to_string()]));
        assert_eq!(config.task_type.as_deref(), Some("FEATURE_EXTRACTION"));
        assert_eq!(
            peft(json!({"target_modules": "enc.*query"})).unwrap().target_modules,
            TargetModules::Regex("enc.*query".into())
        );
        for (value, init) in [
            (json!(false), LoraInit::Random),
            (json!("pissa"), LoraInit::Pissa),
            (json!("olora"), LoraInit::Olora),
        ] {
            let config = peft(json!({ "init_lora_weights": value })).unwrap();
            assert_eq!(config.init_lora_weights, init);
            assert_eq!(config.to_peft()["init_lora_weights"], value);
        }
    }

    #[test]
    fn to_peft_then_from_peft_is_the_same_config() {
        let config = LoraConfig::new(names(&["value", "query"]))
            .with_r(4)
            .with_lora_alpha(8.0)
            .with_lora_dropout(0.05)
            .with_use_dora(true)
            .with_layers_to_transform(Some(vec![0, 2]))
            .with_base_model_name_or_path(Some("sentence-transformers/all-MiniLM-L6-v2".into()));
        let map = config.to_peft();
        assert_eq!(map["lora_alpha"], json!(8));
        assert_eq!(map["target_modules"], json!(["query", "value"]));
        let back = LoraConfig::from_peft(&map).unwrap();
        assert_eq!(
            back,
            LoraConfig {
                target_modules: names(&["query", "value"]),
                ..config
            }
        );
    }
}
