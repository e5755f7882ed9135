//! The run description: one TOML file, sections `[model]`, `[adapter]`, `[data]`,
//! `[tasks.sst|para|sts]`, `[train]`, overridable key by key with `--set key=value`.
//!
//! Every struct denies unknown fields, so a typo is an error listing the valid keys (serde's
//! message) with the file's line and column. [`TrainConfig::validate`] checks what types
//! cannot: ranges, and combinations that would train something else than the file says.

use std::path::{Path, PathBuf};

use burn_peft::LoraConfig;
use minbert_data::{CourseTask, PairMode, QuoraTrain};
use minbert_model::BertConfig;
use minbert_task::model::TaskSpec;
use minbert_task::spec::TARGET_PRESETS;
use minbert_task::{AdapterConfig, HeadKind, Loss, Metric, Mode, ModelSpec, Pooling, Precision, Targets};
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, TrainError};

/// A whole run. `tasks` holds the tasks to train: a task without a section is not trained.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub adapter: AdapterConfig,
    pub data: DataConfig,
    pub tasks: TasksConfig,
    pub train: TrainingConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Hugging Face BERT checkpoint: a directory or a Hub id; the CLI fills in its default
    /// when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub pooling: Pooling,
    /// 1: one shared encoder; 2: the paper's split, one for SST and one for Quora and STS.
    pub encoders: usize,
    /// Dropout on the sentence embedding (or pair features) before each head.
    pub head_dropout: f64,
    /// Width of the hidden layer of `mlp` heads; 0 takes the encoder's hidden size.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// The course files; the CLI resolves the default (`--data-dir`, `MINBERT_DATA_DIR`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Tokens per sequence (per pair with joint encoding), special tokens included.
    pub max_len: usize,
    pub quora_train: QuoraTrain,
    /// Train on the first N examples of each task (0: all), for quick runs.
    pub subset: usize,
    /// Evaluate on the first N dev examples of each task (0: all).
    pub dev_subset: usize,
    /// Length bucketing: sort by length within chunks of this many batches (0: off). Batches are
    /// always padded to their longest sequence.
    pub bucket_batches: usize,
    /// The course's own preprocessing (lowercasing, spaces before punctuation).
    pub course_preprocessing: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_len: 128,
            quora_train: QuoraTrain::default(),
            subset: 0,
            dev_subset: 0,
            bucket_batches: minbert_data::DEFAULT_BUCKET_BATCHES,
            course_preprocessing: false,
        }
    }
}

/// The tasks to train; a missing section leaves its task out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sst: Option<TaskConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub para: Option<TaskConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// The loss; each task has its own default (`ce`, `bce`, `mse`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// Factor on this task's loss.
    pub weight: f64,
    pub head: HeadKind,
    /// Sentence pairs: one joint sequence, or each sentence alone with pair features.
    pub pair: PairMode,
    /// Cross-entropy label smoothing (sst).
    pub label_smoothing: f64,
    /// Factor on the learning rate of this task's head.
    pub lr_mult: f64,
    /// AdamW weight decay of this task's head; `train.weight_decay` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Contrastive loss margin on the cosine distance.
    pub margin: f64,
    /// CoSENT's scale (lambda).
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
            margin: 0.5,
            cosent_scale: 20.0,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    pub epochs: usize,
    /// Stop after this many optimizer steps (0: the epochs decide).
    pub max_steps: usize,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    /// Batches per optimizer step.
    pub grad_accum: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Warmup, as a fraction of the optimizer steps.
    pub warmup: f64,
    /// Warmup in optimizer steps; overrides `warmup` when above 0.
    pub warmup_steps: usize,
    /// The learning rate after warmup.
    pub schedule: LrSchedule,
    /// Global gradient-norm clipping (0: off).
    pub clip_norm: f64,
    /// LoRA+ (Hayou et al. 2024; PEFT's `loraplus_lr_ratio`): the adapters' B factors learn at
    /// this multiple of the learning rate (1: plain LoRA).
    pub loraplus_lr_ratio: f64,
    pub schedule_tasks: TaskSchedule,
    pub precision: Precision,
    /// Run bf16 / f16 compute on a CPU backend (flex, libtorch) too. Off by default: there,
    /// half precision measured slower than f32 (flex, all-MiniLM-L6-v2 forward + backward,
    /// 16 x 48 tokens, 2 threads: bf16 1.2x, f16 1.6x the f32 time,
    /// `examples/precision_probe.rs`; libtorch, `minbert bench`: bf16 1.1-1.4x), so such runs
    /// compute in f32 and say so.
    pub cpu_half: bool,
    /// Initial f16 loss scale (a power of two).
    pub loss_scale: f64,
    pub seed: u64,
    /// Evaluate on dev every N optimizer steps (0: at the end of each epoch).
    pub eval_every: usize,
    /// Also save `last/` every N optimizer steps (0: only after evaluations and at the end).
    pub save_every: usize,
    /// Also save `last/` when this many minutes passed since the last save (0: off), so that a
    /// killed run loses at most that much.
    pub save_every_minutes: f64,
    /// f16: stop the run after this many consecutive steps skipped for overflowing gradients
    /// (the run diverged, or f16's range is too small for it).
    pub max_skipped_steps: usize,
    /// Log the training loss every N optimizer steps.
    pub log_every: usize,
    /// Stop after N evaluations without a better `select` score (0: never).
    pub early_stop: usize,
    /// The score that picks `best/`.
    pub select: Metric,
    /// Progressive unfreezing: heads only for the first epoch, then this many more of the top
    /// encoder layers each epoch, then everything (0: off, everything trains from the start).
    pub unfreeze_layers: usize,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            max_steps: 0,
            batch_size: 16,
            eval_batch_size: 64,
            grad_accum: 1,
            lr: 1e-4,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            warmup: 0.1,
            warmup_steps: 0,
            schedule: LrSchedule::default(),
            clip_norm: 1.0,
            loraplus_lr_ratio: 1.0,
            schedule_tasks: TaskSchedule::default(),
            precision: Precision::default(),
            cpu_half: false,
            loss_scale: 65536.0,
            seed: 42,
            eval_every: 0,
            save_every: 0,
            save_every_minutes: 5.0,
            max_skipped_steps: 25,
            log_every: 10,
            early_stop: 0,
            select: Metric::default(),
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

impl TrainConfig {
    /// Reads `path`, applies each `key=value` of `overrides` in order, and validates. Errors name
    /// the file (with line and column) or the override, and the key.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::parse(&text, path, overrides)
    }

    /// As [`load`](Self::load), from the text of a file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let config_error = |error: ConfigError| TrainError::Config {
            origin: Some(path.display().to_string()),
            error,
        };
        // Parsed as the typed config first, so errors carry the file's line and column.
        let mut config: TrainConfig =
            toml::from_str(text).map_err(|e| config_error(ConfigError::Schema(toml_message(&e))))?;
        if !overrides.is_empty() {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| config_error(ConfigError::Schema(toml_message(&e))))?;
            for item in overrides {
                let set_error = |message: String| TrainError::Config {
                    origin: Some(format!("--set {item}")),
                    error: ConfigError::Schema(message),
                };
                apply_override(&mut table, item).map_err(set_error)?;
                // Checked after each override, so an error names the one at fault.
                config = TrainConfig::deserialize(table.clone()).map_err(|e| set_error(e.message().to_string()))?;
            }
        }
        config.validate().map_err(config_error)?;
        Ok(config)
    }

    /// The config as TOML, every key written (the resolved config of a run).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config serializes to TOML")
    }

    /// Ranges and combinations; the error names the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_model()?;
        self.validate_adapter()?;
        if self.data.max_len < 3 {
            return invalid("data.max_len", format!("must be at least 3, got {}", self.data.max_len));
        }
        let enabled = self.tasks.enabled();
        if enabled.is_empty() {
            return invalid(
                "tasks",
                "no task to train: add [tasks.sst], [tasks.para] and/or [tasks.sts]".into(),
            );
        }
        for (task, t) in &enabled {
            self.validate_task(*task, t)?;
        }
        self.validate_train()
    }

    fn validate_model(&self) -> Result<(), ConfigError> {
        if !(1..=2).contains(&self.model.encoders) {
            return invalid("model.encoders", format!("must be 1 or 2, got {}", self.model.encoders));
        }
        if !(0.0..1.0).contains(&self.model.head_dropout) {
            return invalid(
                "model.head_dropout",
                format!("must be in [0, 1), got {}", self.model.head_dropout),
            );
        }
        Ok(())
    }

    fn validate_adapter(&self) -> Result<(), ConfigError> {
        let a = &self.adapter;
        if a.mode.has_adapters() {
            if a.r == 0 {
                return invalid(
                    "adapter.r",
                    format!("must be at least 1 for mode \"{}\", got 0", a.mode.name()),
                );
            }
            if !a.alpha.is_finite() || a.alpha <= 0.0 {
                return invalid("adapter.alpha", format!("must be a positive number, got {}", a.alpha));
            }
            if !(0.0..1.0).contains(&a.dropout) {
                return invalid("adapter.dropout", format!("must be in [0, 1), got {}", a.dropout));
            }
            if let Targets::Modules(list) = &a.targets
                && list.is_empty()
            {
                return invalid(
                    "adapter.targets",
                    format!("is an empty list; expected {TARGET_PRESETS}"),
                );
            }
        } else if a.train_base {
            return invalid(
                "adapter.train_base",
                format!("only applies to modes \"lora\" and \"dora\", not \"{}\"", a.mode.name()),
            );
        }
        Ok(())
    }

    /// One `[tasks.X]` section: its loss, head and pair mode must fit the task and each other.
    fn validate_task(&self, task: CourseTask, t: &TaskConfig) -> Result<(), ConfigError> {
        let a = &self.adapter;
        let key = |name: &str| format!("tasks.{}.{name}", task.name());
        let loss = t.loss(task);
        let allowed: &[Loss] = match task {
            CourseTask::Sst => &[Loss::Ce],
            CourseTask::Para => &[Loss::Bce, Loss::Contrastive],
            CourseTask::Sts => &[Loss::Mse, Loss::Pearson, Loss::Cosent, Loss::Cosine],
        };
        if !allowed.contains(&loss) {
            let names: Vec<_> = allowed.iter().map(|l| format!("\"{}\"", l.name())).collect();
            return invalid(
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
            return invalid(
                &key("weight"),
                format!("must be a non-negative number, got {}", t.weight),
            );
        }
        if !t.lr_mult.is_finite() || t.lr_mult < 0.0 {
            return invalid(
                &key("lr_mult"),
                format!("must be a non-negative number, got {}", t.lr_mult),
            );
        }
        if let Some(wd) = t.weight_decay
            && (!wd.is_finite() || wd < 0.0)
        {
            return invalid(&key("weight_decay"), format!("must be a non-negative number, got {wd}"));
        }
        if !(0.0..1.0).contains(&t.label_smoothing) {
            return invalid(
                &key("label_smoothing"),
                format!("must be in [0, 1), got {}", t.label_smoothing),
            );
        }
        if t.label_smoothing > 0.0 && loss != Loss::Ce {
            return invalid(
                &key("label_smoothing"),
                format!("applies to loss \"ce\" only, not \"{}\"", loss.name()),
            );
        }
        if task == CourseTask::Sst && (t.pair != PairMode::Joint || t.head == HeadKind::Cosine) {
            return invalid(
                &key(if t.head == HeadKind::Cosine { "head" } else { "pair" }),
                "sst has single sentences, not pairs".into(),
            );
        }
        if t.head == HeadKind::Cosine && t.pair != PairMode::Separate {
            return invalid(
                &key("head"),
                "\"cosine\" compares two sentence embeddings: set pair = \"separate\"".into(),
            );
        }
        if t.head == HeadKind::Cosine && a.mode == Mode::Heads {
            return invalid(&key("head"), "\"cosine\" has no weights, so in mode \"heads\" the task would not train; use head = \"linear\" or \"mlp\"".into());
        }
        let needs_cosine = matches!(loss, Loss::Cosine | Loss::Contrastive);
        if needs_cosine != (t.head == HeadKind::Cosine) && (needs_cosine || task == CourseTask::Para) {
            return invalid(
                &key("head"),
                format!(
                    "loss \"{}\" {} head = \"cosine\"",
                    loss.name(),
                    if needs_cosine { "needs" } else { "does not work with" }
                ),
            );
        }
        if loss == Loss::Contrastive && !(t.margin > 0.0 && t.margin <= 2.0) {
            return invalid(&key("margin"), format!("must be in (0, 2], got {}", t.margin));
        }
        if loss == Loss::Cosent && !(t.cosent_scale > 0.0 && t.cosent_scale.is_finite()) {
            return invalid(
                &key("cosent_scale"),
                format!("must be a positive number, got {}", t.cosent_scale),
            );
        }
        Ok(())
    }

    fn validate_train(&self) -> Result<(), ConfigError> {
        let tr = &self.train;
        for (key, value) in [
            ("train.epochs", tr.epochs),
            ("train.batch_size", tr.batch_size),
            ("train.eval_batch_size", tr.eval_batch_size),
            ("train.grad_accum", tr.grad_accum),
            ("train.log_every", tr.log_every),
            ("train.max_skipped_steps", tr.max_skipped_steps),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1, got 0".into());
            }
        }
        if !tr.lr.is_finite() || tr.lr <= 0.0 {
            return invalid("train.lr", format!("must be a positive number, got {}", tr.lr));
        }
        if !tr.loraplus_lr_ratio.is_finite() || tr.loraplus_lr_ratio <= 0.0 {
            return invalid(
                "train.loraplus_lr_ratio",
                format!("must be a positive number, got {}", tr.loraplus_lr_ratio),
            );
        }
        if !tr.weight_decay.is_finite() || tr.weight_decay < 0.0 {
            return invalid(
                "train.weight_decay",
                format!("must be a non-negative number, got {}", tr.weight_decay),
            );
        }
        for (key, beta) in [("train.beta1", tr.beta1), ("train.beta2", tr.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return invalid(key, format!("must be in [0, 1), got {beta}"));
            }
        }
        if tr.eps.is_nan() || tr.eps <= 0.0 {
            return invalid("train.eps", format!("must be a positive number, got {}", tr.eps));
        }
        if !(0.0..1.0).contains(&tr.warmup) {
            return invalid(
                "train.warmup",
                format!(
                    "is a fraction of the optimizer steps, in [0, 1), got {} (use warmup_steps for a count)",
                    tr.warmup
                ),
            );
        }
        if !tr.clip_norm.is_finite() || tr.clip_norm < 0.0 {
            return invalid(
                "train.clip_norm",
                format!("must be a non-negative number (0: off), got {}", tr.clip_norm),
            );
        }
        if !tr.save_every_minutes.is_finite() || tr.save_every_minutes < 0.0 {
            return invalid(
                "train.save_every_minutes",
                format!(
                    "must be a non-negative number of minutes (0: off), got {}",
                    tr.save_every_minutes
                ),
            );
        }
        if tr.loss_scale.is_nan() || tr.loss_scale < 1.0 || tr.loss_scale.log2().fract() != 0.0 {
            return invalid(
                "train.loss_scale",
                format!("must be a power of two of at least 1, got {}", tr.loss_scale),
            );
        }
        if tr.unfreeze_layers > 0 && self.adapter.mode == Mode::Heads {
            return invalid(
                "train.unfreeze_layers",
                "progressive unfreezing needs a trainable encoder (mode full, lora or dora)".into(),
            );
        }
        if let Some(task) = tr.select.task()
            && self.tasks.get(task).is_none()
        {
            return invalid(
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

    /// The task model this config trains on an encoder of shape `bert`.
    pub fn model_spec(&self, bert: &BertConfig) -> ModelSpec {
        let tasks = self
            .tasks
            .enabled()
            .into_iter()
            .map(|(task, t)| TaskSpec {
                task,
                head: t.head,
                pair: if task == CourseTask::Sst {
                    PairMode::Joint
                } else {
                    t.pair
                },
                encoder: self.encoder_for(task),
                loss: t.loss(task),
                margin: t.margin,
            })
            .collect();
        ModelSpec {
            pooling: self.model.pooling,
            encoders: self.model.encoders,
            hidden_size: bert.hidden_size,
            mlp_hidden: if self.model.mlp_hidden == 0 {
                bert.hidden_size
            } else {
                self.model.mlp_hidden
            },
            head_dropout: self.model.head_dropout,
            tasks,
        }
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
/// A [`ConfigError::Key`] as the `Err` a validation returns.
fn invalid(key: &str, message: String) -> Result<(), ConfigError> {
    Err(ConfigError::key(key, message))
}

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
