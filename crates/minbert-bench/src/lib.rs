//! The benchmark of `docs/BENCHMARKS.md`: the workload's timed steps, with the same JSON fields
//! as the PyTorch reference `bench_train.py`, so the two can be compared run by run, plus the
//! step's effective GFLOP/s (`flops`) and the backend's GEMM alone (`gemm`).

pub mod flops;
pub mod gemm;
mod process_stats;
mod steps;

use std::path::{Path, PathBuf};

use burn::tensor::DType;
use burn_peft::{ParamCount, PeftError, count_params};
use minbert_device::ComputeDevice;
use minbert_model::{BertConfig, ModelError};
use minbert_task::Precision;
use serde::Serialize;

use gemm::GemmTiming;
use process_stats::peak_rss_mib;

/// What a benchmark step runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum BenchMode {
    /// Forward only, no autodiff, no dropout.
    Infer,
    /// Full fine-tuning: every parameter and the head trained with AdamW (lr 1e-5).
    Full,
    /// LoRA on `--targets`, base frozen, adapters and head trained with AdamW (lr 1e-4).
    Lora,
    /// DoRA on `--targets`, as `lora` plus a trained magnitude per output unit.
    Dora,
    /// The backend's matrix product alone, on the shapes a step runs (rows = batch · seq).
    Gemm,
}

impl BenchMode {
    /// The mode as `--mode` and the JSON's `mode` name it.
    pub fn name(self) -> &'static str {
        match self {
            BenchMode::Infer => "infer",
            BenchMode::Full => "full",
            BenchMode::Lora => "lora",
            BenchMode::Dora => "dora",
            BenchMode::Gemm => "gemm",
        }
    }
}

/// The workload: `minbert bench`'s flags.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The model's directory (a Hugging Face BERT checkpoint with a pooler).
    pub model_dir: PathBuf,
    pub mode: BenchMode,
    /// Compute dtype; training in half precision keeps f32 master weights and AdamW state.
    pub precision: Precision,
    pub batch: usize,
    pub seq: usize,
    /// Untimed steps before the timed ones.
    pub warmup: usize,
    pub steps: usize,
    /// The compute threads the caller set up, for the report.
    pub threads: usize,
    /// Seeds the random inputs and labels.
    pub seed: u64,
    /// Adapter rank (lora, dora; the adapter product's width in gemm).
    pub rank: usize,
    /// Adapter alpha: the scale is alpha / rank.
    pub alpha: f64,
    /// Adapted modules, PEFT's `target_modules` (path suffixes).
    pub targets: Vec<String>,
}

/// Why the benchmark could not run. Messages name the flag whose value is wrong.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--batch and --steps must be at least 1 and --seq at least 2")]
    Sizes,
    #[error("--precision {precision}: {dtype:?} is not supported by --device {device}")]
    Precision {
        precision: &'static str,
        dtype: DType,
        device: String,
    },
    #[error("reading {}", path.display())]
    Config {
        path: PathBuf,
        #[source]
        source: ModelError,
    },
    #[error("loading model {}", dir.display())]
    Model {
        dir: PathBuf,
        #[source]
        source: ModelError,
    },
    #[error("attaching the benchmark's adapters")]
    Adapters(#[source] PeftError),
    #[error("{}: the benchmark's head sits on the pooler, and this checkpoint has none", dir.display())]
    NoPooler { dir: PathBuf },
    #[error("--seq {seq} exceeds the model's {positions} positions")]
    SeqTooLong { seq: usize, positions: usize },
    /// `what`: `step 3`, or `product 3 of ffn_up`.
    #[error("the device failed in {what}: {message}")]
    DeviceFailed { what: String, message: String },
}

/// A run's result: the timed steps, or with [`BenchMode::Gemm`] the products.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum BenchReport {
    Steps(StepReport),
    Gemm(GemmReport),
}

impl BenchReport {
    /// The report as the reference's JSON (keys sorted, as `serde_json`'s maps keep them).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("reports serialize")
    }
}

impl StepReport {
    /// What `minbert bench` prints for the steps.
    pub fn summary_line(&self) -> String {
        let unknown = |v: Option<f64>, digits: usize| v.map_or("?".into(), |v| format!("{v:.digits$}"));
        format!(
            "minbert bench {} {}: {:.1} ex/s, {:.1} GFLOP/s, median step {:.1} ms, peak RSS {} MiB, cpu_util {}, device {}",
            self.mode.name(),
            self.precision.name(),
            self.examples_per_s,
            self.effective_gflops,
            self.step_ms_median,
            unknown(self.peak_rss_mib, 0),
            unknown(self.cpu_util, 2),
            self.device,
        )
    }
}

/// What `minbert bench gemm` prints for a product timed on `device`.
pub fn gemm_line(timing: &GemmTiming, device: &str) -> String {
    let s = &timing.shape;
    format!(
        "minbert bench gemm {:<18} {}x{}x{}: median {:.1} GFLOP/s, best {:.1} GFLOP/s, device {device}",
        s.name, s.m, s.k, s.n, timing.gflops_median, timing.gflops_best
    )
}

/// The timed steps of infer, full, lora or dora: the reference's fields, then FLOPs.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// `minbert` (the reference writes `pytorch`).
    pub tool: &'static str,
    /// This crate's version, and Burn's.
    pub minbert: &'static str,
    pub burn: &'static str,
    /// The `--device` name, and what it opened.
    pub backend: String,
    pub device: String,
    pub mode: BenchMode,
    pub precision: Precision,
    pub batch: usize,
    pub seq: usize,
    /// The adapter's rank, alpha and targets (lora, dora).
    pub rank: Option<usize>,
    pub alpha: Option<f64>,
    pub targets: Option<Vec<String>>,
    pub threads: usize,
    pub steps: usize,
    pub warmup: usize,
    pub seed: u64,
    /// Examples of the timed steps per wall second.
    pub examples_per_s: f64,
    /// Milliseconds of the median and of each timed step.
    pub step_ms_median: f64,
    pub step_ms: Vec<f64>,
    pub peak_rss_mib: Option<f64>,
    /// Parameters that train (0 in infer) and all of them, head included.
    pub trainable_params: usize,
    pub total_params: usize,
    /// CPU seconds per wall second over the timed steps (where the OS reports them).
    pub cpu_util: Option<f64>,
    /// The last step's loss (training) or output sum (inference), to compare with the reference.
    pub last_value: f64,
    /// GFLOP per example of the forward pass and of the whole step ([`flops`]).
    pub gflop_per_example_forward: f64,
    pub gflop_per_example_step: f64,
    /// `examples_per_s` times the step's FLOPs per example.
    pub effective_gflops: f64,
}

/// The backend's GEMM on the workload's shapes ([`gemm::workload_shapes`]).
#[derive(Clone, Debug, Serialize)]
pub struct GemmReport {
    /// `minbert`, and this crate's version.
    pub tool: &'static str,
    pub minbert: &'static str,
    /// The `--device` name, and what it opened.
    pub backend: String,
    pub device: String,
    pub mode: BenchMode,
    pub threads: usize,
    pub steps: usize,
    pub warmup: usize,
    pub gemm: Vec<GemmTiming>,
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

impl BenchOptions {
    /// Refuses sizes that time nothing, before a device is opened for them.
    pub fn check(&self) -> Result<(), BenchError> {
        if self.batch == 0 || self.seq < 2 || self.steps == 0 {
            return Err(BenchError::Sizes);
        }
        Ok(())
    }
}

/// Runs the benchmark `options` describe on `compute` (whose compute threads the caller set),
/// giving `on_line` each result's line as it is measured: the steps' [`StepReport::summary_line`],
/// or each product's [`gemm_line`].
pub fn run(
    options: &BenchOptions,
    compute: &ComputeDevice,
    on_line: &mut dyn FnMut(&str),
) -> Result<BenchReport, BenchError> {
    options.check()?;
    if options.mode == BenchMode::Gemm {
        return run_gemm(options, compute, on_line).map(BenchReport::Gemm);
    }
    let report = run_steps(options, compute)?;
    on_line(&report.summary_line());
    Ok(BenchReport::Steps(report))
}

/// The timed steps of infer, full, lora or dora.
fn run_steps(options: &BenchOptions, compute: &ComputeDevice) -> Result<StepReport, BenchError> {
    let device = &compute.device;
    if let Some(dtype) = options.precision.half_dtype().filter(|&d| !device.supports_dtype(d)) {
        return Err(BenchError::Precision {
            precision: options.precision.name(),
            dtype,
            device: compute.name.clone(),
        });
    }
    let train = options.mode != BenchMode::Infer;
    let model_device = if train {
        device.clone().autodiff()
    } else {
        device.clone()
    };
    let (config, model, adapter) = steps::bench_model(options, &model_device)?;
    let inputs = steps::bench_inputs(options, config.vocab_size, &model_device);
    let ParamCount { trainable, total } = count_params(&model);
    let head = train.then_some((config.hidden_size, model.head.weight.shape().dims::<2>()[1]));
    let linears = flops::bert_linears(&model.bert, options.seq, head);
    let flops = flops::step_flops(&config, options.seq, options.batch, &linears, step_kind(options.mode));
    let lr = if adapter.is_some() { 1e-4 } else { 1e-5 };
    let timing = steps::time_steps(options, model, inputs, lr)?;

    let mut sorted = timing.step_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let examples_per_s = (options.batch * options.steps) as f64 / timing.wall_s;
    Ok(StepReport {
        tool: "minbert",
        minbert: VERSION,
        burn: "0.22.1",
        backend: compute.name.clone(),
        device: compute.description.clone(),
        mode: options.mode,
        precision: options.precision,
        batch: options.batch,
        seq: options.seq,
        rank: adapter.as_ref().map(|a| a.r),
        alpha: adapter.as_ref().map(|a| a.lora_alpha),
        targets: adapter.as_ref().map(|_| options.targets.clone()),
        threads: options.threads,
        steps: options.steps,
        warmup: options.warmup,
        seed: options.seed,
        examples_per_s,
        step_ms_median: sorted[sorted.len() / 2],
        step_ms: timing.step_ms,
        peak_rss_mib: peak_rss_mib(),
        trainable_params: if train { trainable } else { 0 },
        total_params: total,
        cpu_util: timing.cpu_util,
        last_value: timing.last_value,
        gflop_per_example_forward: flops.forward / 1e9,
        gflop_per_example_step: flops.step / 1e9,
        effective_gflops: examples_per_s * flops.step / 1e9,
    })
}

fn step_kind(mode: BenchMode) -> flops::StepKind {
    match mode {
        BenchMode::Infer | BenchMode::Gemm => flops::StepKind::Infer,
        BenchMode::Full => flops::StepKind::Full,
        BenchMode::Lora | BenchMode::Dora => flops::StepKind::Adapters {
            dora: mode == BenchMode::Dora,
        },
    }
}

/// `--mode gemm`: times each of the workload's products.
fn run_gemm(
    options: &BenchOptions,
    compute: &ComputeDevice,
    on_line: &mut dyn FnMut(&str),
) -> Result<GemmReport, BenchError> {
    let config = read_config(&options.model_dir)?;
    let mut gemm = Vec::new();
    for shape in gemm::workload_shapes(&config, options.batch * options.seq, options.rank) {
        let timing = gemm::time_gemm(&shape, &compute.device, options.warmup, options.steps)?;
        on_line(&gemm_line(&timing, &compute.description));
        gemm.push(timing);
    }
    Ok(GemmReport {
        tool: "minbert",
        minbert: VERSION,
        backend: compute.name.clone(),
        device: compute.description.clone(),
        mode: BenchMode::Gemm,
        threads: options.threads,
        steps: options.steps,
        warmup: options.warmup,
        gemm,
    })
}

fn read_config(dir: &Path) -> Result<BertConfig, BenchError> {
    let path = dir.join("config.json");
    BertConfig::from_hf_file(&path).map_err(|source| BenchError::Config { path, source })
}
