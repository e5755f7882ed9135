//! The training loop: builds (or resumes) the model, runs the task schedule with gradient
//! accumulation, clipping, loss scaling and AdamW, evaluates on dev, keeps `best/` and `last/`,
//! logs `metrics.jsonl` and ends with `summary.json`.
//!
//! Repeatability: the heads and adapters are initialised from the seeded device RNG, batches
//! come from seeded plans, and the device RNG (dropout) is reseeded from the seed and the batch
//! counter before every batch. A run resumed from `last/` therefore continues exactly as the
//! uninterrupted run would have (checkpoints are only taken between optimizer steps).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burn::tensor::Device;
use burn_peft::{LoraConfig, ParamCount, count_params, inject_adapter};
use minbert_data::{BatchConfig, BertTokenizer, CourseTask, DataDir};
use minbert_hub::{HubSettings, ModelSource, ResolvedModel};
use minbert_model::{BertConfig, load_pretrained};

use minbert_task::checkpoint::{
    BaseModel, CheckpointExtras, CheckpointMeta, ChosenBase, DataSpec, PrecisionInfo, STATE_FILE,
    load_checkpoint_with_base, read_meta, recover_interrupted, save_checkpoint,
};
use minbert_task::files::{write_atomic, write_json};
use minbert_task::metrics::fmt_score;
use minbert_task::model::HEAD_NAMES;
use minbert_task::predict::evaluate;
use minbert_task::run::{
    BEST_DIR, BestCheckpoint, CONFIG_FILE, LAST_DIR, METRICS_FILE, MetricsLine, RunLock, RunSummary, SUMMARY_FILE,
};
use minbert_task::{Mode, MultitaskModel, Precision, Scores};

use crate::config::{TaskConfig, TrainConfig};
use crate::data::{DataFile, TaskData, load_task_data};
use crate::error::{ConfigError, TrainError};
use crate::mixed::MixedPrecision;
use crate::objective::task_loss;
use crate::optim::{AdamW, LossScaler, accumulate};
use crate::params::{ParamMap, collect_grads, param_infos, set_trainable};
use crate::progress::{Progress, ProgressMode, peak_rss_mib};
use crate::schedule::{StreamPos, epoch_tasks, learning_rate, lowest_thawed_layer};
use crate::state::{TrainState, read_resume_state};
use minbert_task::format_duration;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The run directory (`config.toml`, `metrics.jsonl`, `best/`, `last/`, ...).
    pub out_dir: PathBuf,
    /// Continue the run in `out_dir` from its `last/`.
    pub resume: bool,
    /// The compute device; autodiff is added here.
    pub device: Device,
    pub progress: ProgressMode,
    /// Stop after this optimizer step, as a killed run would but with `last/` saved there:
    /// for time-boxed jobs (continue with `resume`). No final evaluation or summary.
    pub pause_at_step: Option<usize>,
    /// Set (by a SIGINT / SIGTERM handler, say) to stop at the next optimizer step with `last/`
    /// saved: [`TrainError::Interrupted`].
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Resume even though a data file changed since the run started: the run continues on the
    /// new data, its current epoch started over (new batch plans, step counts and warm-up from
    /// the new sizes).
    pub accept_changed_data: bool,
}

impl TrainOptions {
    /// Run in `out_dir` on `device`, from scratch, with no progress display.
    pub fn new(out_dir: impl Into<PathBuf>, device: Device) -> Self {
        Self {
            out_dir: out_dir.into(),
            resume: false,
            device,
            progress: ProgressMode::Quiet,
            pause_at_step: None,
            interrupt: None,
            accept_changed_data: false,
        }
    }
}

/// What [`train`] returns: the summary (also in `summary.json`) and the trained model as it
/// is at the end (the f32 master; `best/` may hold an earlier one).
pub struct Trained {
    pub summary: RunSummary,
    pub model: MultitaskModel,
}

/// Whether the parameter at `path` trains in `mode`, with the encoder layers from
/// `lowest_layer` up thawed (`None`: everything the mode trains).
pub fn is_trainable(mode: Mode, train_base: bool, lowest_layer: Option<usize>, path: &str) -> bool {
    if HEAD_NAMES
        .iter()
        .any(|h| path.strip_prefix(h).is_some_and(|rest| rest.starts_with('.')))
    {
        return true;
    }
    // `encoders.{i}.{rest}`
    let Some(rest) = path
        .strip_prefix("encoders.")
        .and_then(|p| p.split_once('.'))
        .map(|(_, rest)| rest)
    else {
        return false;
    };
    let by_mode = match mode {
        Mode::Heads => false,
        Mode::Full => true,
        Mode::Lora | Mode::Dora => train_base || rest.contains(".adapter."),
    };
    let by_stage = match lowest_layer {
        None => true,
        Some(lowest) => rest
            .strip_prefix("encoder.layer.")
            .and_then(|p| p.split_once('.'))
            .and_then(|(i, _)| i.parse::<usize>().ok())
            .is_some_and(|i| i >= lowest),
    };
    by_mode && by_stage
}

/// The precision steps compute in, given the request and the device; a half type the device
/// cannot compute in is an error.
pub fn compute_precision(requested: Precision, cpu_half: bool, device: &Device) -> Result<PrecisionInfo, TrainError> {
    let Some(dtype) = requested.half_dtype() else {
        return Ok(PrecisionInfo {
            requested,
            compute: requested,
            note: None,
        });
    };
    let fallback = |note: String| PrecisionInfo {
        requested,
        compute: Precision::F32,
        note: Some(note),
    };
    if !device.supports_dtype(dtype) {
        return Err(TrainError::Precision {
            precision: requested.name(),
            device: format!("{device:?}"),
        });
    }
    // Burn exposes no backend kind; the CPU backends are recognisable by their device names.
    let name = format!("{device:?}");
    if (name.contains("Flex") || name.contains("LibTorch(Cpu)")) && !cpu_half {
        return Ok(fallback(format!(
            "{} compute is slower than f32 on this CPU backend (measured: flex bf16 1.2x and f16 1.6x, \
             libtorch bf16 1.1-1.4x the f32 time), so this run computes in f32; train.cpu_half = true forces it",
            requested.name()
        )));
    }
    let note = match requested {
        Precision::F16 => "f32 master weights and optimizer state, f16 compute with dynamic loss scaling",
        _ => "f32 master weights and optimizer state, bf16 compute",
    };
    Ok(PrecisionInfo {
        requested,
        compute: requested,
        note: Some(note.into()),
    })
}

/// A seed for the device RNG before batch `micro_step` (SplitMix64 of both).
fn batch_seed(seed: u64, micro_step: usize) -> u64 {
    let mut z = seed ^ (micro_step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The config keys that say where the inputs are, not what they are.
const LOCATION_KEYS: [&str; 2] = ["model.path", "data.dir"];

/// The flattened `section.key = value` lines where two configs differ.
fn config_differences(a: &TrainConfig, b: &TrainConfig) -> Vec<String> {
    fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
        match value {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| {
                flatten(
                    &if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    },
                    v,
                    out,
                )
            }),
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let table = |c: &TrainConfig| {
        let mut out = BTreeMap::new();
        flatten("", &toml::Value::try_from(c).expect("the config serializes"), &mut out);
        out
    };
    let (mut ta, mut tb) = (table(a), table(b));
    // Where the model and the data are may change (a moved project): they are compared by
    // content instead (the base model's hashes in meta.json, the data files' in state.json).
    for key in LOCATION_KEYS {
        ta.remove(key);
        tb.remove(key);
    }
    let keys: std::collections::BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
    keys.into_iter()
        .filter(|k| ta.get(*k) != tb.get(*k))
        .map(|k| {
            format!(
                "{k} ({} vs {})",
                ta.get(k).map_or("unset", String::as_str),
                tb.get(k).map_or("unset", String::as_str)
            )
        })
        .collect()
}

/// Trains as `config` says, in `options.out_dir`. `config.model.path` must be set (the CLI
/// fills in its default); `config.data.dir` falls back to minbert-data's lookup.
pub fn train(config: &TrainConfig, options: &TrainOptions) -> Result<Trained, TrainError> {
    Run::start(config, options)?.run(options.pause_at_step)
}

/// How checkpoints in `out_dir` name their base model, so that they load on another machine:
/// the Hub id, or the directory relative to the checkpoint folder (`best/`, `last/`).
fn recorded_base_name(model: &ResolvedModel, out_dir: &Path) -> Result<String, TrainError> {
    let dir = match &model.source {
        ModelSource::Hub(id) => return Ok(id.clone()),
        ModelSource::Dir(dir) => dir,
    };
    let canonical = |p: &Path| std::fs::canonicalize(p).map_err(|e| TrainError::io(p, e));
    let checkpoint = canonical(out_dir)?.join(BEST_DIR);
    let relative = pathdiff::diff_paths(canonical(dir)?, &checkpoint).expect("both paths are absolute");
    Ok(relative.display().to_string())
}

/// How a run starts in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// An empty folder.
    Fresh,
    /// A run that stopped before its first checkpoint: its files are cleared and it starts over.
    Over,
    /// From `last/`.
    Resume,
}

/// Decides how to start in `out_dir` (its lock held): refuses to start over a run that has a
/// checkpoint, or to resume one under another config.
fn plan_start(config: &TrainConfig, out_dir: &Path, resume: bool) -> Result<Start, TrainError> {
    let last_dir = out_dir.join(LAST_DIR);
    let config_path = out_dir.join(CONFIG_FILE);
    let checkpoint = last_dir.join(STATE_FILE).is_file();
    let started = [CONFIG_FILE, METRICS_FILE, BEST_DIR, LAST_DIR]
        .iter()
        .any(|f| out_dir.join(f).exists());
    match (resume, checkpoint) {
        (false, true) => Err(TrainError::checkpoint(
            out_dir,
            "already holds a run with a checkpoint: pass --resume to continue it, or choose another --out",
        )),
        (false, false) => Ok(if started { Start::Over } else { Start::Fresh }),
        (true, false) if !config_path.is_file() => Err(TrainError::checkpoint(
            out_dir,
            "nothing to resume: no run here (no config.toml); start it without --resume",
        )),
        (true, false) => Ok(Start::Over),
        (true, true) => {
            let saved = TrainConfig::load(&config_path, &[])?;
            let differences = config_differences(&saved, config);
            if differences.is_empty() {
                Ok(Start::Resume)
            } else {
                Err(TrainError::checkpoint(
                    &config_path,
                    format!(
                        "the run was started with another config; differing keys: {}",
                        differences.join(", ")
                    ),
                ))
            }
        }
    }
}

/// Takes the run folder's lock (creating the folder), repairs what a crash left and decides how
/// to start; returns the lock, notes on repairs, and the start.
fn lock_run_dir(
    config: &TrainConfig,
    out_dir: &Path,
    resume: bool,
) -> Result<(RunLock, Vec<String>, Start), TrainError> {
    let lock = RunLock::acquire(out_dir)?;
    let notes = recover_run_dir(out_dir)?;
    let start = plan_start(config, out_dir, resume)?;
    Ok((lock, notes, start))
}

/// Clears what a run that stopped before its first checkpoint left (its log, a `best/` saved
/// before `last/`), so that it starts over cleanly.
fn clear_unfinished_start(out_dir: &Path) -> Result<(), TrainError> {
    for name in [METRICS_FILE, SUMMARY_FILE, CONFIG_FILE, BEST_DIR, LAST_DIR] {
        let path = out_dir.join(name);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.exists() {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        removed.map_err(|e| TrainError::io(&path, e))?;
    }
    Ok(())
}

/// Makes the run folder whole after a crash (its lock held): interrupted swaps of `best/` and
/// `last/` finished or undone, temporaries of unfinished writes removed. Returns notes on what
/// was repaired.
fn recover_run_dir(out_dir: &Path) -> Result<Vec<String>, TrainError> {
    let mut notes = Vec::new();
    for name in [BEST_DIR, LAST_DIR] {
        let recovered = recover_interrupted(&out_dir.join(name))?;
        if recovered.swap {
            notes.push(format!("{name}/: completed a save that was interrupted"));
        }
        if !recovered.removed.is_empty() {
            notes.push(format!(
                "{name}/: removed {} unfinished save(s)",
                recovered.removed.len()
            ));
        }
    }
    durable_fs::remove_stale_temporaries(out_dir).map_err(minbert_task::TaskError::from)?;
    Ok(notes)
}

/// Compares the data files a run was started on with those now there. Changed files are an
/// error naming the file and the change, unless `accept`; then the changes are returned.
fn check_data(saved: &[DataFile], now: &[DataFile], data_dir: &Path, accept: bool) -> Result<Vec<String>, TrainError> {
    let mut changes = Vec::new();
    for old in saved {
        let Some(new) = now.iter().find(|n| n.task == old.task && n.split == old.split) else {
            continue;
        };
        let change = old.file.change(&new.file).or_else(|| {
            (old.examples != new.examples)
                .then(|| format!("{} examples when recorded, {} now", old.examples, new.examples))
        });
        let Some(change) = change else { continue };
        let path = data_dir.join(&new.file.file);
        if !accept {
            return Err(TrainError::DataChanged { path, change });
        }
        changes.push(format!("{}: {change}", path.display()));
    }
    Ok(changes)
}

/// Refuses, before any work, config values the model cannot run: more positions than it has,
/// a tokenizer whose ids exceed its vocabulary, an adapter rank above its layers' width.
fn check_model_limits(config: &TrainConfig, bert: &BertConfig, tokenizer: &BertTokenizer) -> Result<(), TrainError> {
    let model = config.model.path.as_deref().unwrap_or_default();
    let refuse = |key: &str, message: String| {
        Err(TrainError::Config {
            origin: None,
            error: ConfigError::key(key, message),
        })
    };
    if config.data.max_len > bert.max_position_embeddings {
        return refuse(
            "data.max_len",
            format!(
                "is {}, but {model} has {} positions (max_position_embeddings); use at most that",
                config.data.max_len, bert.max_position_embeddings
            ),
        );
    }
    if tokenizer.vocab_size() > bert.vocab_size {
        return refuse(
            "model.path",
            format!(
                "{model}: its tokenizer ({}) has {} tokens but the model's vocab_size is {}: the tokenizer is not this model's",
                tokenizer.source().display(),
                tokenizer.vocab_size(),
                bert.vocab_size
            ),
        );
    }
    // Every linear layer of BERT maps hidden_size to hidden_size or intermediate_size.
    let width = bert.hidden_size.min(bert.intermediate_size);
    if config.adapter.mode.has_adapters() && config.adapter.r > width {
        return refuse(
            "adapter.r",
            format!(
                "is {}, above the width of {model}'s layers ({width}): a rank can be at most that",
                config.adapter.r
            ),
        );
    }
    Ok(())
}

/// The model, optimizer and counters of a run resumed from `last_dir`.
fn resumed(
    config: &TrainConfig,
    last_dir: &Path,
    model_dir: &Path,
    device: &Device,
) -> Result<(MultitaskModel, AdamW, TrainState), TrainError> {
    let base = ChosenBase {
        dir: model_dir.to_path_buf(),
        origin: format!(
            "model.path of the run, {}",
            config.model.path.as_deref().unwrap_or_default()
        ),
    };
    let loaded = load_checkpoint_with_base(last_dir, Some(&base), device)?;
    let (state, tensors) = read_resume_state(last_dir)?;
    let sizes = param_infos(&loaded.model)
        .into_iter()
        .map(|p| (p.path, p.shape.iter().product()))
        .collect();
    let mut optim = AdamW::new(config.train.beta1, config.train.beta2, config.train.eps);
    optim
        .load_state(tensors, &sizes, device)
        .map_err(|m| TrainError::checkpoint(&last_dir.join(minbert_task::checkpoint::OPTIMIZER_FILE), m))?;
    Ok((loaded.model, optim, state))
}

/// What a new run starts from: the base model, its adapters' config and its shape.
struct Fresh<'m> {
    model_dir: &'m Path,
    lora: Option<&'m LoraConfig>,
    bert_config: &'m BertConfig,
}

impl Fresh<'_> {
    /// The model (seeded heads and adapters on the base weights), a new optimizer and zeroed
    /// counters.
    fn start(
        &self,
        config: &TrainConfig,
        num_tasks: usize,
        compute: Precision,
        device: &Device,
    ) -> Result<(MultitaskModel, AdamW, TrainState), TrainError> {
        device.seed(config.train.seed);
        let mut encoders = Vec::new();
        for _ in 0..config.model.encoders {
            let (_, mut encoder) = load_pretrained(self.model_dir, device)?;
            if let Some(lora) = self.lora {
                inject_adapter(&mut encoder, lora)?;
            }
            encoders.push(encoder);
        }
        if config.model.pooling == minbert_task::Pooling::Pooler && encoders[0].pooler.is_none() {
            return Err(TrainError::Config {
                origin: None,
                error: ConfigError::key(
                    "model.pooling",
                    format!(
                        "is \"pooler\", but {} has no pooler weights; use \"mean\" or \"cls\"",
                        self.model_dir.display()
                    ),
                ),
            });
        }
        let spec = config.model_spec(self.bert_config);
        let model = MultitaskModel::new(spec, encoders, device);
        let state = TrainState {
            step: 0,
            micro_step: 0,
            epoch: 0,
            epoch_batch: 0,
            streams: vec![StreamPos::default(); num_tasks],
            seed: config.train.seed,
            loss_scaler: (compute == Precision::F16).then(|| LossScaler::new(config.train.loss_scale)),
            best_score: None,
            evals_since_best: 0,
            last_eval_step: None,
            examples: vec![0; num_tasks],
            task_seconds: vec![0.0; num_tasks],
            elapsed_s: 0.0,
            train_s: 0.0,
            eval_s: 0.0,
            data: Vec::new(),
        };
        let optim = AdamW::new(config.train.beta1, config.train.beta2, config.train.eps);
        Ok((model, optim, state))
    }
}

struct Run<'a> {
    config: &'a TrainConfig,
    /// The run folder's lock, released when the run ends.
    _lock: RunLock,
    interrupt: Option<Arc<AtomicBool>>,
    /// When `last/` was last saved (or the run started), for `train.save_every_minutes`.
    last_save: Instant,
    out_dir: PathBuf,
    device: Device,
    tasks: Vec<TaskData>,
    task_configs: Vec<TaskConfig>,
    /// Batches per pass over each task.
    task_batches: Vec<usize>,
    /// The f32 master model (what is saved and evaluated), its half-precision working copy
    /// when steps compute in bf16 / f16, and AdamW.
    weights: MixedPrecision<MultitaskModel>,
    state: TrainState,
    lora: Option<LoraConfig>,
    base: BaseModel,
    precision: PrecisionInfo,
    params: ParamCount,
    num_layers: usize,
    /// Batches in the current epoch.
    epoch_len: usize,
    /// The unfreezing stage in force (`lowest_thawed_layer`).
    stage: Option<Option<usize>>,
    /// Cached batch plan of each task's current pass.
    plans: Vec<Option<(u64, Vec<Vec<usize>>)>>,
    acc: ParamMap,
    acc_count: usize,
    total_steps: usize,
    warmup_steps: usize,
    progress: Progress,
    metrics: std::fs::File,
    started: Instant,
    /// When this invocation's training loop started.
    loop_started: Instant,
    /// Evaluation seconds of this invocation.
    session_eval_s: f64,
    task_seconds: Vec<f64>,
    best: Option<BestCheckpoint>,
    last_scores: Option<Scores>,
    /// Since the last log line: loss sums and counts per task, examples, time.
    window: (Vec<f64>, Vec<usize>, usize, Instant),
    last_grad_norm: f64,
    /// Per task, a moving average of the loss for the progress display.
    shown_loss: Vec<Option<f64>>,
    notes: Vec<String>,
}

impl<'a> Run<'a> {
    fn start(config: &'a TrainConfig, options: &TrainOptions) -> Result<Self, TrainError> {
        let started = Instant::now();
        let progress = Progress::new(options.progress);
        let model_name = config.model.path.as_deref().ok_or_else(|| TrainError::Config {
            origin: None,
            error: ConfigError::key(
                "model.path",
                "is not set: a model directory or Hugging Face Hub id is needed",
            ),
        })?;
        let base_model = minbert_hub::resolve(model_name, Path::new("."), &HubSettings::from_env())?;
        let model_dir = base_model.dir.clone();
        let out_dir = options.out_dir.clone();
        let last_dir = out_dir.join(LAST_DIR);
        let config_path = out_dir.join(CONFIG_FILE);
        // An existing run folder is locked (and checked) before any work; a new one only once
        // the model and data loaded, so that a run that fails to start leaves nothing behind.
        let early = out_dir
            .exists()
            .then(|| lock_run_dir(config, &out_dir, options.resume))
            .transpose()?;
        if early.is_none() && options.resume {
            return Err(TrainError::checkpoint(
                &out_dir,
                "nothing to resume: no such run folder; start it without --resume",
            ));
        }
        let device = options.device.clone().autodiff();
        let bert_config = BertConfig::from_hf_file(&model_dir.join("config.json"))?;
        let tokenizer = BertTokenizer::from_dir(&model_dir)?.with_max_len(config.data.max_len)?;
        check_model_limits(config, &bert_config, &tokenizer)?;
        let data_dir = DataDir::resolve(config.data.dir.as_deref())?;
        let tasks = load_task_data(config, &data_dir, &tokenizer)?;
        // Held until the run ends: one writer per run folder.
        let (lock, mut notes, start) = match early {
            Some(locked) => locked,
            None => lock_run_dir(config, &out_dir, options.resume)?,
        };
        notes.extend(tasks.iter().flat_map(|t| t.notes.clone()));
        let task_configs: Vec<TaskConfig> = tasks
            .iter()
            .map(|t| config.tasks.get(t.task).expect("loaded tasks are configured").clone())
            .collect();
        let bs = config.train.batch_size;
        let task_batches: Vec<usize> = tasks.iter().map(|t| t.train.len().div_ceil(bs)).collect();

        let revision = matches!(base_model.source, ModelSource::Hub(_))
            .then(|| model_dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .flatten();
        let base = BaseModel::of(&model_dir, recorded_base_name(&base_model, &out_dir)?, revision)?;
        let lora = config.lora_config(Some(model_name.to_string()));
        let precision = compute_precision(config.train.precision, config.train.cpu_half, &device)?;
        notes.extend(precision.note.clone());

        let data_files: Vec<DataFile> = tasks.iter().flat_map(|t| t.files.clone()).collect();
        let (master, optim, mut state) = if start == Start::Resume {
            let (master, optim, mut state) = resumed(config, &last_dir, &model_dir, &device)?;
            if state.data.is_empty() {
                notes.push(
                    "last/state.json records no data fingerprints (an older run): the data is not checked".into(),
                );
            }
            let changes = check_data(&state.data, &data_files, data_dir.path(), options.accept_changed_data)?;
            if !changes.is_empty() {
                notes.push(format!(
                    "the data changed since the run started ({}); the current epoch starts over on it",
                    changes.join("; ")
                ));
                state.restart_epoch();
            }
            (master, optim, state)
        } else {
            if start == Start::Over {
                notes.push(format!(
                    "{} held a run stopped before its first checkpoint: starting it over",
                    out_dir.display()
                ));
                clear_unfinished_start(&out_dir)?;
            }
            let fresh = Fresh {
                model_dir: &model_dir,
                lora: lora.as_ref(),
                bert_config: &bert_config,
            };
            fresh.start(config, tasks.len(), precision.compute, &device)?
        };
        state.data = data_files;
        let (mode, train_base) = (config.adapter.mode, config.adapter.train_base);
        let master = set_trainable(master, |p| is_trainable(mode, train_base, None, p));
        let params = count_params(&master);

        let steps_per_epoch = task_batches.iter().sum::<usize>().div_ceil(config.train.grad_accum);
        let mut total_steps = steps_per_epoch * config.train.epochs;
        if config.train.max_steps > 0 {
            total_steps = total_steps.min(config.train.max_steps);
        }
        let warmup_steps = if config.train.warmup_steps > 0 {
            config.train.warmup_steps
        } else {
            (config.train.warmup * total_steps as f64).round() as usize
        };

        let resuming = start == Start::Resume;
        if !resuming {
            write_atomic(&config_path, config.to_toml().as_bytes())?;
        }
        let metrics_path = out_dir.join(METRICS_FILE);
        if resuming {
            truncate_metrics(&metrics_path, state.step)?;
        }
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .map_err(|e| TrainError::io(&metrics_path, e))?;
        let best = if resuming {
            read_best(&out_dir.join(BEST_DIR))?
        } else {
            None
        };
        let last_scores = if resuming {
            read_best(&last_dir)?.map(|b| b.scores)
        } else {
            None
        };

        let num_tasks = tasks.len();
        let weights = MixedPrecision::new(master, precision.compute.half_dtype(), optim);
        let run = Self {
            config,
            _lock: lock,
            interrupt: options.interrupt.clone(),
            last_save: Instant::now(),
            weights,
            out_dir,
            tasks,
            task_configs,
            task_batches,
            lora,
            base,
            precision,
            params,
            num_layers: bert_config.num_hidden_layers,
            epoch_len: 0,
            stage: None,
            plans: vec![None; num_tasks],
            acc: ParamMap::new(),
            acc_count: 0,
            total_steps,
            warmup_steps,
            progress,
            metrics,
            started,
            loop_started: Instant::now(),
            session_eval_s: 0.0,
            task_seconds: state.task_seconds.clone(),
            best,
            last_scores,
            window: (vec![0.0; num_tasks], vec![0; num_tasks], 0, Instant::now()),
            last_grad_norm: f64::NAN,
            shown_loss: vec![None; num_tasks],
            notes,
            state,
            device,
        };
        run.announce(resuming, &data_dir);
        Ok(run)
    }

    fn announce(&self, resumed: bool, data_dir: &DataDir) {
        let c = self.config;
        let p = &self.progress;
        if resumed {
            p.println(format!(
                "resuming {} at step {} (epoch {}, batch {})",
                self.out_dir.display(),
                self.state.step,
                self.state.epoch + 1,
                self.state.epoch_batch
            ));
        }
        p.println(format!(
            "model {} ({} encoder(s), {} pooling), mode {}, data {}",
            self.config.model.path.as_deref().unwrap_or_default(),
            c.model.encoders,
            serde_json::to_value(c.model.pooling).expect("serializes"),
            c.adapter.mode.name(),
            data_dir.path().display()
        ));
        for (t, n) in self.tasks.iter().zip(&self.task_batches) {
            p.println(format!(
                "  {}: {} train examples ({n} batches of {}), {} dev",
                t.task.name(),
                t.train.len(),
                c.train.batch_size,
                t.dev.len()
            ));
        }
        p.println(format!(
            "params: {} trainable of {} ({:.2}%); {} optimizer steps ({} warmup), precision {} (compute {})",
            self.params.trainable,
            self.params.total,
            100.0 * self.params.trainable as f64 / self.params.total.max(1) as f64,
            self.total_steps,
            self.warmup_steps,
            self.precision.requested.name(),
            self.precision.compute.name()
        ));
        for note in &self.notes {
            p.println(format!("note: {note}"));
        }
    }

    fn run(mut self, pause_at: Option<usize>) -> Result<Trained, TrainError> {
        let c = self.config;
        self.loop_started = Instant::now();
        let max_steps = if c.train.max_steps > 0 {
            c.train.max_steps
        } else {
            usize::MAX
        };
        // A resumed run may have ended already.
        let stopped_early = c.train.early_stop > 0 && self.state.evals_since_best >= c.train.early_stop;
        let mut status = if stopped_early {
            "early_stop"
        } else if self.state.step >= max_steps {
            "max_steps"
        } else {
            "completed"
        };
        'epochs: while self.state.epoch < c.train.epochs && self.state.step < max_steps && !stopped_early {
            let epoch = self.state.epoch;
            let order = epoch_tasks(
                c.train.schedule_tasks,
                &self.task_batches,
                epoch,
                c.train.epochs,
                c.train.seed,
            );
            self.apply_stage(epoch);
            self.epoch_len = order.len();
            self.progress
                .start_epoch(epoch, c.train.epochs, order.len(), self.state.epoch_batch);
            while self.state.epoch_batch < order.len() {
                let t = order[self.state.epoch_batch];
                self.batch(t)?;
                self.state.epoch_batch += 1;
                if self.acc_count == c.train.grad_accum || self.state.epoch_batch == order.len() {
                    self.optimizer_step()?;
                    let step = self.state.step;
                    if step.is_multiple_of(c.train.log_every) {
                        self.log_train()?;
                    }
                    let at_max = c.train.max_steps > 0 && step >= c.train.max_steps;
                    let epoch_done = self.state.epoch_batch == order.len();
                    if epoch_done {
                        self.state.epoch += 1;
                        self.state.epoch_batch = 0;
                    }
                    if (c.train.eval_every > 0 && step.is_multiple_of(c.train.eval_every))
                        || (c.train.eval_every == 0 && epoch_done)
                    {
                        if self.evaluate()? {
                            status = "early_stop";
                            break 'epochs;
                        }
                    } else if (c.train.save_every > 0 && step.is_multiple_of(c.train.save_every)) || self.save_is_due()
                    {
                        self.save_last()?;
                    }
                    self.check_stop(step)?;
                    if at_max {
                        status = "max_steps";
                        break 'epochs;
                    }
                    if pause_at == Some(step) {
                        self.save_last()?;
                        self.progress
                            .println(format!("paused at step {step}; continue with --resume"));
                        let summary = self.summary("paused");
                        return Ok(Trained {
                            summary,
                            model: self.weights.master,
                        });
                    }
                    if epoch_done {
                        continue 'epochs;
                    }
                }
                self.update_progress();
            }
        }
        self.progress.finish_epoch();
        if self.state.last_eval_step != Some(self.state.step) && status != "early_stop" {
            self.evaluate()?;
        }
        self.finish(status)
    }

    /// Whether `train.save_every_minutes` passed since `last/` was saved.
    fn save_is_due(&self) -> bool {
        let minutes = self.config.train.save_every_minutes;
        minutes > 0.0 && self.last_save.elapsed().as_secs_f64() >= 60.0 * minutes
    }

    /// Ends the run at this step boundary when it was interrupted (with `last/` saved), or when
    /// f16 loss scaling has skipped too many steps in a row.
    fn check_stop(&mut self, step: usize) -> Result<(), TrainError> {
        if let Some(scaler) = &self.state.loss_scaler
            && scaler.consecutive_skips >= self.config.train.max_skipped_steps
        {
            return Err(TrainError::Overflowing {
                steps: scaler.consecutive_skips,
                scale: scaler.scale,
                precision: self.precision.compute.name(),
            });
        }
        if self.interrupt.as_ref().is_some_and(|flag| flag.load(Ordering::SeqCst)) {
            self.save_last()?;
            return Err(TrainError::Interrupted {
                step,
                dir: self.out_dir.clone(),
            });
        }
        Ok(())
    }

    /// Sets the trainable parameters for `epoch`'s unfreezing stage (once per change).
    fn apply_stage(&mut self, epoch: usize) {
        let lowest = lowest_thawed_layer(self.config.train.unfreeze_layers, self.num_layers, epoch);
        if self.stage == Some(lowest) {
            return;
        }
        let (mode, train_base) = (self.config.adapter.mode, self.config.adapter.train_base);
        let master = set_trainable(self.weights.master.clone(), |p| {
            is_trainable(mode, train_base, lowest, p)
        });
        self.weights.set_master(master);
        if self.config.train.unfreeze_layers > 0 {
            self.progress.println(match lowest {
                Some(l) if l == self.num_layers => format!("epoch {}: training the heads only", epoch + 1),
                Some(l) => format!(
                    "epoch {}: training the heads and encoder layers {l}..{}",
                    epoch + 1,
                    self.num_layers - 1
                ),
                None => format!("epoch {}: training everything the mode trains", epoch + 1),
            });
        }
        self.stage = Some(lowest);
    }

    /// The example indices of task `t`'s next batch, advancing its stream.
    fn next_indices(&mut self, t: usize) -> Result<Vec<usize>, TrainError> {
        let c = &self.config.train;
        let pos = self.state.streams[t];
        let plan_pass = self.plans[t].as_ref().map(|(pass, _)| *pass);
        if plan_pass != Some(pos.pass) {
            // Each task shuffles with its own seed; each pass is a new shuffle.
            let seed = c.seed.wrapping_add(1_000_003 * (self.tasks[t].task as u64 + 1));
            let mut batching = BatchConfig::new(c.batch_size).shuffled(seed);
            if self.config.data.bucket_batches > 0 {
                batching = batching.bucketed(self.config.data.bucket_batches);
            }
            self.plans[t] = Some((pos.pass, self.tasks[t].train.plan(&batching, pos.pass)?));
        }
        let plan = &self.plans[t].as_ref().expect("planned above").1;
        let indices = plan[pos.next].clone();
        self.state.streams[t] = if pos.next + 1 == plan.len() {
            StreamPos {
                pass: pos.pass + 1,
                next: 0,
            }
        } else {
            StreamPos {
                pass: pos.pass,
                next: pos.next + 1,
            }
        };
        Ok(indices)
    }

    /// Forward and backward of one batch of task `t`; its gradients join the accumulator.
    fn batch(&mut self, t: usize) -> Result<(), TrainError> {
        let started = Instant::now();
        let task = self.tasks[t].task;
        let indices = self.next_indices(t)?;
        let batch = self.tasks[t].train.pad(&indices).to_device(&self.device);
        self.device
            .seed(batch_seed(self.config.train.seed, self.state.micro_step));
        let model = self.weights.working();
        let labels = batch.labels.as_ref().expect("training examples have labels");
        let loss = task_loss(task, &self.task_configs[t], model.forward(task, &batch), labels);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let loss_scale = self.state.loss_scaler.as_ref().map_or(1.0, |s| s.scale);
        if !value.is_finite() && self.state.loss_scaler.is_none() {
            return Err(TrainError::Diverged {
                step: self.state.step,
                what: "loss",
                value,
            });
        }
        // A task with nothing trainable yet (a cosine head while progressive unfreezing has
        // thawed only the heads) adds no gradient.
        if loss.is_tracked() {
            let grads = (loss * (self.task_configs[t].weight * loss_scale)).backward();
            accumulate(&mut self.acc, collect_grads(model, &grads));
        }
        self.acc_count += 1;
        self.state.micro_step += 1;
        self.state.examples[t] += indices.len();
        self.task_seconds[t] += started.elapsed().as_secs_f64();
        if value.is_finite() {
            self.window.0[t] += value;
            self.window.1[t] += 1;
            self.shown_loss[t] = Some(self.shown_loss[t].map_or(value, |avg| 0.9 * avg + 0.1 * value));
        }
        self.window.2 += indices.len();
        Ok(())
    }

    /// Averages the accumulated gradients, checks and clips them, and updates the parameters.
    fn optimizer_step(&mut self) -> Result<(), TrainError> {
        let c = &self.config.train;
        let loss_scale = self.state.loss_scaler.as_ref().map_or(1.0, |s| s.scale);
        let grads = std::mem::take(&mut self.acc);
        let divisor = self.acc_count as f64 * loss_scale;
        self.acc_count = 0;
        let lr = learning_rate(c.schedule, c.lr, self.state.step, self.warmup_steps, self.total_steps);
        let heads: Vec<(String, f64, f64)> = self
            .tasks
            .iter()
            .zip(&self.task_configs)
            .map(|(t, tc)| {
                (
                    format!("{}.", t.task.name()),
                    lr * tc.lr_mult,
                    tc.weight_decay.unwrap_or(c.weight_decay),
                )
            })
            .collect();
        let hyper = |path: &str| {
            let (lr, wd) = heads
                .iter()
                .find(|(prefix, _, _)| path.starts_with(prefix.as_str()))
                .map_or((lr, c.weight_decay), |(_, lr, wd)| (*lr, *wd));
            // LoRA+: the B factors (`….adapter.lora_b`) take a larger step.
            if path.ends_with(".lora_b") {
                (lr * c.loraplus_lr_ratio, wd)
            } else {
                (lr, wd)
            }
        };
        let scaler = self.state.loss_scaler.as_mut();
        let outcome = self.weights.step(grads, divisor, scaler, c.clip_norm, hyper);
        self.last_grad_norm = outcome.norm;
        // Without loss scaling an overflow is no accident to skip: the run diverged.
        if !outcome.norm.is_finite() && self.state.loss_scaler.is_none() {
            return Err(TrainError::Diverged {
                step: self.state.step,
                what: "gradient norm",
                value: outcome.norm,
            });
        }
        self.state.step += 1;
        Ok(())
    }

    /// Seconds of the whole run (earlier invocations included): wall clock, training loop
    /// without evaluations, evaluations.
    fn times(&self) -> (f64, f64, f64) {
        let s = &self.state;
        let train = s.train_s + self.loop_started.elapsed().as_secs_f64() - self.session_eval_s;
        (
            s.elapsed_s + self.started.elapsed().as_secs_f64(),
            train,
            s.eval_s + self.session_eval_s,
        )
    }

    fn update_progress(&mut self) {
        let rate = self.window.2 as f64 / self.window.3.elapsed().as_secs_f64().max(1e-9);
        let losses: Vec<String> = self
            .tasks
            .iter()
            .zip(&self.shown_loss)
            .filter_map(|(t, l)| l.map(|l| format!("{} {l:.3}", t.task.name())))
            .collect();
        let message = format!("loss {} | {rate:.1} ex/s", losses.join(" "));
        self.progress.update(self.state.epoch_batch, &message);
    }

    fn write_metrics(&mut self, line: &MetricsLine) -> Result<(), TrainError> {
        let path = self.out_dir.join(METRICS_FILE);
        let text = serde_json::to_string(line).expect("metrics lines serialize");
        // On disk before the step goes on: a crash keeps every line logged so far.
        writeln!(self.metrics, "{text}")
            .and_then(|_| self.metrics.sync_data())
            .map_err(|e| TrainError::io(&path, e))
    }

    fn log_train(&mut self) -> Result<(), TrainError> {
        let c = &self.config.train;
        let (sums, counts, examples, since) = &self.window;
        let losses = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(i, _)| counts[*i] > 0)
            .map(|(i, t)| (t.task.name().to_string(), finite(sums[i] / counts[i] as f64)))
            .collect();
        let rate = *examples as f64 / since.elapsed().as_secs_f64().max(1e-9);
        let lr = learning_rate(
            c.schedule,
            c.lr,
            self.state.step.saturating_sub(1),
            self.warmup_steps,
            self.total_steps,
        );
        let line = MetricsLine::Train {
            step: self.state.step,
            epoch: self.epochs_done(),
            lr,
            loss: losses,
            grad_norm: finite(self.last_grad_norm),
            loss_scale: self.state.loss_scaler.as_ref().map(|s| s.scale),
            skipped_steps: self.state.loss_scaler.as_ref().map(|s| s.skipped_steps),
            examples_per_s: rate,
            wall_s: self.wall_s(),
            time: unix_time(),
        };
        self.write_metrics(&line)?;
        let n = self.tasks.len();
        self.window = (vec![0.0; n], vec![0; n], 0, Instant::now());
        Ok(())
    }

    /// Epochs done, with the fraction of the current one.
    fn epochs_done(&self) -> f64 {
        self.state.epoch as f64 + self.state.epoch_batch as f64 / self.epoch_len.max(1) as f64
    }

    fn wall_s(&self) -> f64 {
        self.times().0
    }

    /// Scores the master model on dev, keeps `best/` and `last/`; returns whether to stop early.
    fn evaluate(&mut self) -> Result<bool, TrainError> {
        let started = Instant::now();
        let datasets: Vec<(CourseTask, &minbert_data::EncodedDataset)> =
            self.tasks.iter().map(|t| (t.task, &t.dev)).collect();
        let scores = evaluate(&self.weights.master, &datasets, self.config.train.eval_batch_size);
        let select = self.config.train.select;
        let score = scores.get(select);
        // A NaN score (a task whose predictions are all equal has no Pearson) ranks below
        // every number: never best.
        let improved = score.is_finite() && self.state.best_score.is_none_or(|best| score > best);
        if !score.is_finite() {
            let note = format!(
                "eval step {}: the selection score {} is {score}, so this checkpoint cannot become best/",
                self.state.step,
                select.name()
            );
            self.progress.println(format!("warning: {note}"));
            self.notes.push(note);
        }
        let epoch = self.epochs_done();
        self.last_scores = Some(scores);
        self.state.last_eval_step = Some(self.state.step);
        if improved {
            self.state.best_score = Some(score);
            self.state.evals_since_best = 0;
            self.best = Some(BestCheckpoint {
                step: self.state.step,
                epoch,
                scores,
            });
        } else {
            self.state.evals_since_best += 1;
        }
        let eval_s = started.elapsed().as_secs_f64();
        self.session_eval_s += eval_s;
        self.progress.println(format!(
            "eval step {} (epoch {:.2}): sst_acc {} quora_acc {} sts_pearson {} overall {}{} [{}]",
            self.state.step,
            epoch,
            fmt_score(scores.sst_acc),
            fmt_score(scores.quora_acc),
            fmt_score(scores.sts_pearson),
            fmt_score(scores.overall),
            if improved { " (best)" } else { "" },
            format_duration(eval_s)
        ));
        let line = MetricsLine::Eval {
            step: self.state.step,
            epoch,
            scores,
            best: improved,
            eval_s,
            wall_s: self.wall_s(),
            time: unix_time(),
        };
        self.write_metrics(&line)?;
        if improved {
            let meta = self.meta(Some(scores));
            save_checkpoint(
                &self.out_dir.join(BEST_DIR),
                &self.weights.master,
                &meta,
                CheckpointExtras::model_only(self.lora.as_ref()),
            )?;
        }
        self.save_last()?;
        let patience = self.config.train.early_stop;
        Ok(patience > 0 && self.state.evals_since_best >= patience)
    }

    fn save_last(&mut self) -> Result<(), TrainError> {
        debug_assert_eq!(self.acc_count, 0, "checkpoints are taken between optimizer steps");
        let (elapsed, train, eval) = self.times();
        let state = TrainState {
            elapsed_s: elapsed,
            train_s: train,
            eval_s: eval,
            task_seconds: self.task_seconds.clone(),
            ..self.state.clone()
        };
        let meta = self.meta(self.last_scores);
        let extras = CheckpointExtras {
            lora: self.lora.as_ref(),
            resume: Some((self.weights.optim.state_tensors(), &state)),
        };
        save_checkpoint(&self.out_dir.join(LAST_DIR), &self.weights.master, &meta, extras)?;
        self.last_save = Instant::now();
        Ok(())
    }

    fn meta(&self, scores: Option<Scores>) -> CheckpointMeta {
        CheckpointMeta {
            minbert_version: env!("CARGO_PKG_VERSION").to_string(),
            base_model: self.base.clone(),
            mode: self.config.adapter.mode,
            train_base: self.config.adapter.train_base,
            tasks: self.tasks.iter().map(|t| t.task).collect(),
            model: self.weights.master.spec.clone(),
            data: DataSpec {
                max_len: self.config.data.max_len,
                course_preprocessing: self.config.data.course_preprocessing,
                dev_subset: self.config.data.dev_subset,
            },
            precision: self.precision.clone(),
            scores,
            step: self.state.step,
            epoch: self.state.epoch,
            params: self.params,
            checkpoint_id: String::new(),
        }
    }

    fn finish(mut self, status: &str) -> Result<Trained, TrainError> {
        self.save_last()?;
        if self.best.is_none() {
            self.notes.push(format!(
                "no evaluation gave a finite {}: there is no best/ checkpoint",
                self.config.train.select.name()
            ));
        }
        let summary = self.summary(status);
        write_json(&self.out_dir.join(SUMMARY_FILE), &summary)?;
        Ok(Trained {
            summary,
            model: self.weights.master,
        })
    }

    fn summary(&self, status: &str) -> RunSummary {
        let (_, train_s, eval_s) = self.times();
        let names = |i: usize| self.tasks[i].task.name().to_string();
        let examples: BTreeMap<String, usize> = (0..self.tasks.len())
            .map(|i| (names(i), self.state.examples[i]))
            .collect();
        let examples_per_s = (0..self.tasks.len())
            .map(|i| (names(i), self.state.examples[i] as f64 / self.task_seconds[i].max(1e-9)))
            .collect();
        RunSummary {
            minbert_version: env!("CARGO_PKG_VERSION").to_string(),
            status: status.to_string(),
            steps: self.state.step,
            epochs: self.state.epoch,
            select: self.config.train.select,
            best: self.best.clone(),
            last_scores: self.last_scores,
            train_s,
            eval_s,
            wall_s: self.started.elapsed().as_secs_f64(),
            train_examples_per_s: examples.values().sum::<usize>() as f64 / train_s.max(1e-9),
            examples,
            examples_per_s,
            peak_rss_mib: peak_rss_mib(),
            params: self.params,
            precision: self.precision.clone(),
            skipped_steps: self.state.loss_scaler.as_ref().map_or(0, |s| s.skipped_steps),
            notes: self.notes.clone(),
        }
    }
}

/// `None` (`null` in JSON) for NaN and infinities.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn unix_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Drops the lines a killed run logged after its last checkpoint (their steps are redone).
fn truncate_metrics(path: &Path, step: usize) -> Result<(), TrainError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<MetricsLine>(line)
                .ok()
                .and_then(|l| l.position())
                .is_some_and(|(s, _, _)| s <= step)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    Ok(write_atomic(path, kept.as_bytes())?)
}

/// The scores recorded in a checkpoint's `meta.json`, if any.
fn read_best(dir: &Path) -> Result<Option<BestCheckpoint>, TrainError> {
    if !dir.join(minbert_task::checkpoint::META_FILE).is_file() {
        return Ok(None);
    }
    let meta = read_meta(dir)?;
    Ok(meta.scores.map(|scores| BestCheckpoint {
        step: meta.step,
        epoch: meta.epoch as f64,
        scores,
    }))
}
