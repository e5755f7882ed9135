//! The run description: one TOML file, sections `[model]`, `[adapter]`, `[data]`,
//! `[tasks.sst|para|sts]`, `[train]`, overridable key by key with `--set key=value`.
//!
//! Every struct denies unknown fields, so a typo is an error listing the valid keys (serde's
//! message) with the file's line and column. [`TrainConfig::validate`] checks what types
//! cannot: ranges, and combinations that would train something else than the file says.

use std::fmt;
use std::path::{Path, PathBuf};

use burn::tensor::DType;
use burn_peft::{LoraConfig, TargetModules};
use minbert_data::{CourseTask, PairMode, QuoraTrain};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::TrainError;

/// A whole run. `tasks` holds the tasks to train: a task without a section is not trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub adapter: AdapterConfig,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub tasks: TasksConfig,
    #[serde(default)]
    pub train: TrainingConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Hugging Face BERT checkpoint: a directory or a Hub id; the CLI fills in its default
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub pooling: Pooling,
    /// 1: one shared encoder; 2: the paper's split, one for SST and one for Quora and STS.
    #[serde(default = "one")]
    pub encoders: usize,
    /// Dropout on the sentence embedding (or pair features) before each head.
    #[serde(default = "default_head_dropout")]
    pub head_dropout: f64,
    /// Width of the hidden layer of `mlp` heads; 0 takes the encoder's hidden size.
    #[serde(default)]
    pub mlp_hidden: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            path: None,
            pooling: Pooling::default(),
            encoders: 1,
            head_dropout: 0.1,
            mlp_hidden: 0,
        }
    }
}

/// How a sequence becomes one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// `tanh(pooler.dense(h_cls))`, BERT's pooler.
    Pooler,
    /// The last hidden state of `[CLS]`.
    Cls,
    /// The mean of the last hidden states over real tokens (sentence-transformers). The default:
    /// all-MiniLM-L6-v2's pooler was never trained.
    #[default]
    Mean,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterConfig {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default = "default_rank")]
    pub r: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default)]
    pub rslora: bool,
    #[serde(default)]
    pub targets: Targets,
    /// Train the base encoder alongside the adapters (lora and dora only).
    #[serde(default)]
    pub train_base: bool,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            r: default_rank(),
            alpha: default_alpha(),
            dropout: 0.0,
            rslora: false,
            targets: Targets::default(),
            train_base: false,
        }
    }
}

/// What is fine-tuned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The task heads only; the encoder is frozen.
    Heads,
    /// Every parameter.
    Full,
    /// LoRA adapters (and the heads).
    #[default]
    Lora,
    /// DoRA adapters (and the heads).
    Dora,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Heads => "heads",
            Mode::Full => "full",
            Mode::Lora => "lora",
            Mode::Dora => "dora",
        }
    }

    pub fn has_adapters(self) -> bool {
        matches!(self, Mode::Lora | Mode::Dora)
    }
}

/// Which linear layers get adapters: a preset or a list of PEFT `target_modules` names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Targets {
    /// `attention.self.{query,key,value}`.
    #[default]
    Attn,
    /// `attn` plus `attention.output.dense`.
    AttnOut,
    /// Every linear layer of each encoder layer (and `pooler.dense` with pooler pooling).
    AllLinear,
    /// PEFT's `target_modules`: a module path, or a suffix of one starting after a dot.
    Modules(Vec<String>),
}

const TARGET_PRESETS: &str = "\"attn\", \"attn-out\", \"all-linear\" or a list of module names";

impl Targets {
    /// PEFT's `target_modules` for these targets.
    pub fn target_modules(&self, pooling: Pooling) -> TargetModules {
        let names = |list: &[&str]| TargetModules::Names(list.iter().map(|s| s.to_string()).collect());
        match self {
            Targets::Attn => names(&["query", "key", "value"]),
            Targets::AttnOut => names(&["query", "key", "value", "attention.output.dense"]),
            // `dense` alone would also take the pooler, which gets no gradient unless it pools.
            Targets::AllLinear if pooling == Pooling::Pooler => names(&["query", "key", "value", "dense"]),
            Targets::AllLinear => names(&[
                "query",
                "key",
                "value",
                "attention.output.dense",
                "intermediate.dense",
                "output.dense",
            ]),
            Targets::Modules(list) => TargetModules::Names(list.clone()),
        }
    }
}

impl Serialize for Targets {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Targets::Attn => s.serialize_str("attn"),
            Targets::AttnOut => s.serialize_str("attn-out"),
            Targets::AllLinear => s.serialize_str("all-linear"),
            Targets::Modules(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TargetsVisitor;
        impl<'de> Visitor<'de> for TargetsVisitor {
            type Value = Targets;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(TARGET_PRESETS)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Targets, E> {
                match v {
                    "attn" => Ok(Targets::Attn),
                    "attn-out" => Ok(Targets::AttnOut),
                    "all-linear" => Ok(Targets::AllLinear),
                    other => Err(E::custom(format!(
                        "unknown targets {other:?}, expected {TARGET_PRESETS}"
                    ))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Targets, A::Error> {
                let mut list = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    list.push(name);
                }
                Ok(Targets::Modules(list))
            }
        }
        d.deserialize_any(TargetsVisitor)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The course files; the CLI resolves the default (`--data-dir`, `MINBERT_DATA_DIR`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Tokens per sequence (per pair with joint encoding), special tokens included.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    #[serde(default)]
    pub quora_train: QuoraTrain,
    /// Train on the first N examples of each task (0: all), for quick runs.
    #[serde(default)]
    pub subset: usize,
    /// Evaluate on the first N dev examples of each task (0: all).
    #[serde(default)]
    pub dev_subset: usize,
    /// Length bucketing: sort by length within chunks of this many batches (0: off). Batches are
    /// always padded to their longest sequence.
    #[serde(default = "default_bucket_batches")]
    pub bucket_batches: usize,
    /// The course's own preprocessing (lowercasing, spaces before punctuation).
    #[serde(default)]
    pub course_preprocessing: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_len: default_max_len(),
            quora_train: QuoraTrain::default(),
            subset: 0,
            dev_subset: 0,
            bucket_batches: default_bucket_batches(),
            course_preprocessing: false,
        }
    }
}

/// The tasks to train; a missing section leaves its task out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sst: Option<TaskConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub para: Option<TaskConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts: Option<TaskConfig>,
}

impl TasksConfig {
    pub fn get(&self, task: CourseTask) -> Option<&TaskConfig> {
        match task {
            CourseTask::Sst => self.sst.as_ref(),
            CourseTask::Para => self.para.as_ref(),
            CourseTask::Sts => self.sts.as_ref(),
        }
    }

    /// The configured tasks, in the order sst, para, sts.
    pub fn enabled(&self) -> Vec<(CourseTask, &TaskConfig)> {
        CourseTask::ALL
            .iter()
            .filter_map(|&t| self.get(t).map(|c| (t, c)))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// The loss; each task has its own default (`ce`, `bce`, `mse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// Factor on this task's loss.
    #[serde(default = "one_f64")]
    pub weight: f64,
    #[serde(default)]
    pub head: HeadKind,
    /// Sentence pairs: one joint sequence, or each sentence alone with pair features.
    #[serde(default)]
    pub pair: PairMode,
    /// Cross-entropy label smoothing (sst).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Factor on the learning rate of this task's head.
    #[serde(default = "one_f64")]
    pub lr_mult: f64,
    /// AdamW weight decay of this task's head; `train.weight_decay` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Contrastive loss margin on the cosine distance.
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// CoSENT's scale (lambda).
    #[serde(default = "default_cosent_scale")]
    pub cosent_scale: f64,
}

impl Default for TaskConfig {
    fn default() -> Self {
        Self {
            loss: None,
            weight: 1.0,
            head: HeadKind::default(),
            pair: PairMode::default(),
            label_smoothing: 0.0,
            lr_mult: 1.0,
            weight_decay: None,
            margin: default_margin(),
            cosent_scale: default_cosent_scale(),
        }
    }
}

impl TaskConfig {
    /// The configured loss or the task's default.
    pub fn loss(&self, task: CourseTask) -> Loss {
        self.loss.unwrap_or(match task {
            CourseTask::Sst => Loss::Ce,
            CourseTask::Para => Loss::Bce,
            CourseTask::Sts => Loss::Mse,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Cross-entropy over the 5 SST classes, with optional label smoothing.
    Ce,
    /// Binary cross-entropy with logits (para).
    Bce,
    /// Mean squared error of the predicted score (sts).
    Mse,
    /// `1 - r`, Pearson's correlation over the batch (sts).
    Pearson,
    /// CoSENT ranking loss on the predicted scores or cosines (sts).
    Cosent,
    /// MSE between `cos(u, v)` and `label / 5` (sts, `head = "cosine"`).
    Cosine,
    /// Contrastive loss on the cosine distance with a margin (para, `head = "cosine"`).
    Contrastive,
}

impl Loss {
    pub fn name(self) -> &'static str {
        match self {
            Loss::Ce => "ce",
            Loss::Bce => "bce",
            Loss::Mse => "mse",
            Loss::Pearson => "pearson",
            Loss::Cosent => "cosent",
            Loss::Cosine => "cosine",
            Loss::Contrastive => "contrastive",
        }
    }
}

/// What turns the sentence embedding (or pair features) into the task's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// One linear layer.
    #[default]
    Linear,
    /// Linear, GELU, dropout, linear.
    Mlp,
    /// No parameters: the cosine of the two sentence embeddings (pair tasks, `pair =
    /// "separate"`), as sentence-transformers trains them.
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Stop after this many optimizer steps (0: the epochs decide).
    #[serde(default)]
    pub max_steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_eval_batch_size")]
    pub eval_batch_size: usize,
    /// Batches per optimizer step.
    #[serde(default = "one")]
    pub grad_accum: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Warmup, as a fraction of the optimizer steps.
    #[serde(default = "default_warmup")]
    pub warmup: f64,
    /// Warmup in optimizer steps; overrides `warmup` when above 0.
    #[serde(default)]
    pub warmup_steps: usize,
    /// The learning rate after warmup.
    #[serde(default)]
    pub schedule: LrSchedule,
    /// Global gradient-norm clipping (0: off).
    #[serde(default = "one_f64")]
    pub clip_norm: f64,
    #[serde(default)]
    pub schedule_tasks: TaskSchedule,
    #[serde(default)]
    pub precision: Precision,
    /// Run bf16 / f16 compute on a CPU backend (flex, libtorch) too. Off by default: there,
    /// half precision measured slower than f32 (flex, all-MiniLM-L6-v2 forward + backward,
    /// 16 x 48 tokens, 2 threads: bf16 1.2x, f16 1.6x the f32 time,
    /// `examples/precision_probe.rs`; libtorch, `minbert bench`: bf16 1.1-1.4x), so such runs
    /// compute in f32 and say so.
    #[serde(default)]
    pub cpu_half: bool,
    /// Initial f16 loss scale (a power of two).
    #[serde(default = "default_loss_scale")]
    pub loss_scale: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Evaluate on dev every N optimizer steps (0: at the end of each epoch).
    #[serde(default)]
    pub eval_every: usize,
    /// Also save `last/` every N optimizer steps (0: only after evaluations and at the end).
    #[serde(default)]
    pub save_every: usize,
    /// Log the training loss every N optimizer steps.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Stop after N evaluations without a better `select` score (0: never).
    #[serde(default)]
    pub early_stop: usize,
    /// The score that picks `best/`.
    #[serde(default)]
    pub select: Select,
    /// Progressive unfreezing: heads only for the first epoch, then this many more of the top
    /// encoder layers each epoch, then everything (0: off, everything trains from the start).
    #[serde(default)]
    pub unfreeze_layers: usize,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: default_epochs(),
            max_steps: 0,
            batch_size: default_batch_size(),
            eval_batch_size: default_eval_batch_size(),
            grad_accum: 1,
            lr: default_lr(),
            weight_decay: default_weight_decay(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            warmup: default_warmup(),
            warmup_steps: 0,
            schedule: LrSchedule::default(),
            clip_norm: 1.0,
            schedule_tasks: TaskSchedule::default(),
            precision: Precision::default(),
            cpu_half: false,
            loss_scale: default_loss_scale(),
            seed: default_seed(),
            eval_every: 0,
            save_every: 0,
            log_every: default_log_every(),
            early_stop: 0,
            select: Select::default(),
            unfreeze_layers: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// Linear decay to 0.
    #[default]
    Linear,
    /// Half a cosine to 0.
    Cosine,
    Constant,
}

/// The order in which tasks take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskSchedule {
    /// Each epoch, a full pass over each task in turn.
    Sequential,
    /// One batch of each task in turn; a task that has had its pass sits out.
    RoundRobin,
    /// Each epoch, every batch of every task once, in a random order: tasks are drawn in
    /// proportion to their sizes.
    #[default]
    Proportional,
    /// Drawn with probability proportional to `size^alpha`, alpha falling from 1 to 0.2 over
    /// the epochs (Stickland and Murray, 2019).
    Annealed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// The half dtype steps compute in; `None` for f32.
    pub fn half_dtype(self) -> Option<DType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(DType::BF16),
            Precision::F16 => Some(DType::F16),
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        [Precision::F32, Precision::Bf16, Precision::F16]
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown precision \"{name}\": expected f32, bf16 or f16"))
    }
}

/// The dev score that picks the best checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    #[default]
    Overall,
    SstAcc,
    QuoraAcc,
    StsPearson,
}

impl Select {
    pub fn name(self) -> &'static str {
        match self {
            Select::Overall => "overall",
            Select::SstAcc => "sst_acc",
            Select::QuoraAcc => "quora_acc",
            Select::StsPearson => "sts_pearson",
        }
    }
}

fn one() -> usize {
    1
}
fn one_f64() -> f64 {
    1.0
}
fn default_head_dropout() -> f64 {
    0.1
}
fn default_rank() -> usize {
    8
}
fn default_alpha() -> f64 {
    16.0
}
fn default_max_len() -> usize {
    128
}
fn default_bucket_batches() -> usize {
    minbert_data::DEFAULT_BUCKET_BATCHES
}
fn default_margin() -> f64 {
    0.5
}
fn default_cosent_scale() -> f64 {
    20.0
}
fn default_epochs() -> usize {
    3
}
fn default_batch_size() -> usize {
    16
}
fn default_eval_batch_size() -> usize {
    64
}
fn default_lr() -> f64 {
    1e-4
}
fn default_weight_decay() -> f64 {
    0.01
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_warmup() -> f64 {
    0.1
}
fn default_loss_scale() -> f64 {
    65536.0
}
fn default_seed() -> u64 {
    42
}
fn default_log_every() -> usize {
    10
}

impl TrainConfig {
    /// Reads `path`, applies each `key=value` of `overrides` in order, and validates. Errors name
    /// the file (with line and column) or the override, and the key.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::parse(&text, path, overrides)
    }

    /// As [`load`](Self::load), from the text of a file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let config_error = |message: String| TrainError::Config {
            origin: path.display().to_string(),
            message,
        };
        // Parsed as the typed config first, so errors carry the file's line and column.
        let mut config: TrainConfig = toml::from_str(text).map_err(|e| config_error(toml_message(&e)))?;
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(text).map_err(|e| config_error(toml_message(&e)))?;
            for item in overrides {
                let set_error = |message: String| TrainError::Config {
                    origin: format!("--set {item}"),
                    message,
                };
                apply_override(&mut table, item).map_err(set_error)?;
                // Checked after each override, so an error names the one at fault.
                config = TrainConfig::deserialize(table.clone()).map_err(|e| set_error(e.message().to_string()))?;
            }
        }
        config
            .validate()
            .map_err(|(key, message)| config_error(format!("{key}: {message}")))?;
        Ok(config)
    }

    /// The config as TOML, every key written (the resolved config of a run).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config serializes to TOML")
    }

    /// Ranges and combinations; the error is `(key, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: String| Err((key.to_string(), message));
        if !(1..=2).contains(&self.model.encoders) {
            return err("model.encoders", format!("must be 1 or 2, got {}", self.model.encoders));
        }
        if !(0.0..1.0).contains(&self.model.head_dropout) {
            return err(
                "model.head_dropout",
                format!("must be in [0, 1), got {}", self.model.head_dropout),
            );
        }
        let a = &self.adapter;
        if a.mode.has_adapters() {
            if a.r == 0 {
                return err(
                    "adapter.r",
                    format!("must be at least 1 for mode \"{}\", got 0", a.mode.name()),
                );
            }
            if !a.alpha.is_finite() || a.alpha <= 0.0 {
                return err("adapter.alpha", format!("must be a positive number, got {}", a.alpha));
            }
            if !(0.0..1.0).contains(&a.dropout) {
                return err("adapter.dropout", format!("must be in [0, 1), got {}", a.dropout));
            }
            if let Targets::Modules(list) = &a.targets
                && list.is_empty()
            {
                return err(
                    "adapter.targets",
                    format!("is an empty list; expected {TARGET_PRESETS}"),
                );
            }
        } else if a.train_base {
            return err(
                "adapter.train_base",
                format!("only applies to modes \"lora\" and \"dora\", not \"{}\"", a.mode.name()),
            );
        }
        if self.data.max_len < 3 {
            return err("data.max_len", format!("must be at least 3, got {}", self.data.max_len));
        }
        let enabled = self.tasks.enabled();
        if enabled.is_empty() {
            return err(
                "tasks",
                "no task to train: add [tasks.sst], [tasks.para] and/or [tasks.sts]".into(),
            );
        }
        for (task, t) in &enabled {
            let key = |name: &str| format!("tasks.{}.{name}", task.name());
            let loss = t.loss(*task);
            let allowed: &[Loss] = match task {
                CourseTask::Sst => &[Loss::Ce],
                CourseTask::Para => &[Loss::Bce, Loss::Contrastive],
                CourseTask::Sts => &[Loss::Mse, Loss::Pearson, Loss::Cosent, Loss::Cosine],
            };
            if !allowed.contains(&loss) {
                let names: Vec<_> = allowed.iter().map(|l| format!("\"{}\"", l.name())).collect();
                return err(
                    &key("loss"),
                    format!(
                        "\"{}\" does not fit {}; expected {}",
                        loss.name(),
                        task.name(),
                        names.join(" or ")
                    ),
                );
            }
            if !t.weight.is_finite() || t.weight < 0.0 {
                return err(
                    &key("weight"),
                    format!("must be a non-negative number, got {}", t.weight),
                );
            }
            if !t.lr_mult.is_finite() || t.lr_mult < 0.0 {
                return err(
                    &key("lr_mult"),
                    format!("must be a non-negative number, got {}", t.lr_mult),
                );
            }
            if let Some(wd) = t.weight_decay
                && (!wd.is_finite() || wd < 0.0)
            {
                return err(&key("weight_decay"), format!("must be a non-negative number, got {wd}"));
            }
            if !(0.0..1.0).contains(&t.label_smoothing) {
                return err(
                    &key("label_smoothing"),
                    format!("must be in [0, 1), got {}", t.label_smoothing),
                );
            }
            if t.label_smoothing > 0.0 && loss != Loss::Ce {
                return err(
                    &key("label_smoothing"),
                    format!("applies to loss \"ce\" only, not \"{}\"", loss.name()),
                );
            }
            if *task == CourseTask::Sst && (t.pair != PairMode::Joint || t.head == HeadKind::Cosine) {
                return err(
                    &key(if t.head == HeadKind::Cosine { "head" } else { "pair" }),
                    "sst has single sentences, not pairs".into(),
                );
            }
            if t.head == HeadKind::Cosine && t.pair != PairMode::Separate {
                return err(
                    &key("head"),
                    "\"cosine\" compares two sentence embeddings: set pair = \"separate\"".into(),
                );
            }
            if t.head == HeadKind::Cosine && a.mode == Mode::Heads {
                return err(&key("head"), "\"cosine\" has no weights, so in mode \"heads\" the task would not train; use head = \"linear\" or \"mlp\"".into());
            }
            let needs_cosine = matches!(loss, Loss::Cosine | Loss::Contrastive);
            if needs_cosine != (t.head == HeadKind::Cosine) && (needs_cosine || *task == CourseTask::Para) {
                return err(
                    &key("head"),
                    format!(
                        "loss \"{}\" {} head = \"cosine\"",
                        loss.name(),
                        if needs_cosine { "needs" } else { "does not work with" }
                    ),
                );
            }
            if loss == Loss::Contrastive && !(t.margin > 0.0 && t.margin <= 2.0) {
                return err(&key("margin"), format!("must be in (0, 2], got {}", t.margin));
            }
            if loss == Loss::Cosent && !(t.cosent_scale > 0.0 && t.cosent_scale.is_finite()) {
                return err(
                    &key("cosent_scale"),
                    format!("must be a positive number, got {}", t.cosent_scale),
                );
            }
        }
        let tr = &self.train;
        for (key, value) in [
            ("train.epochs", tr.epochs),
            ("train.batch_size", tr.batch_size),
            ("train.eval_batch_size", tr.eval_batch_size),
            ("train.grad_accum", tr.grad_accum),
            ("train.log_every", tr.log_every),
        ] {
            if value == 0 {
                return err(key, "must be at least 1, got 0".into());
            }
        }
        if !tr.lr.is_finite() || tr.lr <= 0.0 {
            return err("train.lr", format!("must be a positive number, got {}", tr.lr));
        }
        if !tr.weight_decay.is_finite() || tr.weight_decay < 0.0 {
            return err(
                "train.weight_decay",
                format!("must be a non-negative number, got {}", tr.weight_decay),
            );
        }
        for (key, beta) in [("train.beta1", tr.beta1), ("train.beta2", tr.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return err(key, format!("must be in [0, 1), got {beta}"));
            }
        }
        if tr.eps.is_nan() || tr.eps <= 0.0 {
            return err("train.eps", format!("must be a positive number, got {}", tr.eps));
        }
        if !(0.0..1.0).contains(&tr.warmup) {
            return err(
                "train.warmup",
                format!(
                    "is a fraction of the optimizer steps, in [0, 1), got {} (use warmup_steps for a count)",
                    tr.warmup
                ),
            );
        }
        if !tr.clip_norm.is_finite() || tr.clip_norm < 0.0 {
            return err(
                "train.clip_norm",
                format!("must be a non-negative number (0: off), got {}", tr.clip_norm),
            );
        }
        if tr.loss_scale.is_nan() || tr.loss_scale < 1.0 || tr.loss_scale.log2().fract() != 0.0 {
            return err(
                "train.loss_scale",
                format!("must be a power of two of at least 1, got {}", tr.loss_scale),
            );
        }
        if tr.unfreeze_layers > 0 && self.adapter.mode == Mode::Heads {
            return err(
                "train.unfreeze_layers",
                "progressive unfreezing needs a trainable encoder (mode full, lora or dora)".into(),
            );
        }
        let has = |task| self.tasks.get(task).is_some();
        let needed = match tr.select {
            Select::Overall => None,
            Select::SstAcc => Some(CourseTask::Sst),
            Select::QuoraAcc => Some(CourseTask::Para),
            Select::StsPearson => Some(CourseTask::Sts),
        };
        if let Some(task) = needed
            && !has(task)
        {
            return err(
                "train.select",
                format!("\"{}\" needs [tasks.{}]", tr.select.name(), task.name()),
            );
        }
        Ok(())
    }

    /// PEFT's config for the adapters of this run (lora and dora modes).
    pub fn lora_config(&self, base_model: Option<String>) -> Option<LoraConfig> {
        let a = &self.adapter;
        a.mode.has_adapters().then(|| {
            LoraConfig::new(a.targets.target_modules(self.model.pooling))
                .with_r(a.r)
                .with_lora_alpha(a.alpha)
                .with_lora_dropout(a.dropout)
                .with_use_rslora(a.rslora)
                .with_use_dora(a.mode == Mode::Dora)
                .with_base_model_name_or_path(base_model)
                .with_task_type(Some("FEATURE_EXTRACTION".into()))
        })
    }

    /// Which encoder serves `task`: 0, or with two encoders 1 for Quora and STS.
    pub fn encoder_for(&self, task: CourseTask) -> usize {
        if self.model.encoders == 2 && task != CourseTask::Sst {
            1
        } else {
            0
        }
    }
}

/// `a.b.c=value` into `table`; the value is TOML (`1e-4`, `true`, `["q", "v"]`), or else a bare
/// string (`attn`, `/path/to/model`).
fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), String> {
    let (key, raw) = item.split_once('=').ok_or("expected key=value, like train.lr=1e-4")?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{key:?} is not a key path like train.lr"));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {}", raw.trim())) {
        Ok(mut t) => t.remove("v").expect("parsed a table with key v"),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let (last, sections) = parts.split_last().expect("split gives at least one part");
    let mut current = table;
    for (i, part) in sections.iter().enumerate() {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("{} is a value, not a section", parts[..=i].join("."))),
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// toml's message with its own "TOML parse error" prefix dropped: the caller names the file.
fn toml_message(e: &toml::de::Error) -> String {
    let text = e.to_string();
    text.strip_prefix("TOML parse error ")
        .unwrap_or(&text)
        .trim_end()
        .to_string()
}
