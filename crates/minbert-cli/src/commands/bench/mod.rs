//! `minbert bench`: the workload of `docs/BENCHMARKS.md`, with the same JSON fields as
//! the PyTorch reference `bench_train.py`, so the two can be compared run by run, plus the
//! step's effective GFLOP/s (`flops`) and the backend's GEMM alone (`gemm`).

mod flops;
mod gemm;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use burn_peft::{LoraConfig, ParamCount, TargetModules, count_params, inject_adapter};
use clap::{Args, ValueEnum};
use minbert_model::{BertConfig, BertInput, BertModel, load_pretrained};
use minbert_task::Precision;
use minbert_task::files::write_json;
use minbert_train::mixed::MixedPrecision;
use minbert_train::optim::{AdamW, LossScaler};
use minbert_train::params::collect_grads;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;

use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;
use crate::process_stats::{cpu_seconds, peak_rss_mib};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
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

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value = "infer")]
    pub mode: BenchMode,
    /// Compute dtype: f32, bf16 or f16. Training in half precision keeps f32 master weights and
    /// optimizer state (f16 adds dynamic loss scaling), as `minbert train` does.
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 64)]
    pub seq: usize,
    /// Untimed steps before the timed ones.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Compute threads (the global rayon pool that Burn's CPU backends use).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Adapter rank (lora, dora).
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    /// Adapter alpha: the scale is alpha / rank.
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f64,
    /// Adapted modules, PEFT's `target_modules` (path suffixes).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "query,key,value,attention.output.dense"
    )]
    pub targets: Vec<String>,
    /// Write the result here (the reference's JSON fields).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The reference's head: `Linear(hidden, 5)` on the pooler output.
#[derive(Module, Debug)]
struct Classifier {
    bert: BertModel,
    head: Linear,
}

impl Classifier {
    fn logits(&self, input: BertInput) -> Tensor<2> {
        let pooled = self
            .bert
            .forward(input)
            .pooler_output
            .expect("benchmark model has a pooler");
        self.head.forward(pooled)
    }
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.batch == 0 || args.seq < 2 || args.steps == 0 {
        bail!("--batch and --steps must be at least 1 and --seq at least 2");
    }
    crate::backend::set_compute_threads(args.threads)?;
    let compute = args.device.open()?;
    if args.mode == BenchMode::Gemm {
        return run_gemm(&args, &compute.device, &compute.description);
    }
    let device = compute.device;
    let half = args.precision.half_dtype();
    if let Some(dtype) = half.filter(|&d| !device.supports_dtype(d)) {
        bail!(
            "--precision {}: {dtype:?} is not supported by --device {}",
            args.precision.name(),
            args.device.device
        );
    }
    let train = args.mode != BenchMode::Infer;
    let model_device = if train { device.autodiff() } else { device };
    let (config, model, adapter) = bench_model(&args, &model_device)?;
    let (input, labels) = bench_inputs(&args, config.vocab_size, &model_device);
    let ParamCount { trainable, total } = count_params(&model);
    let head = train.then_some((config.hidden_size, model.head.weight.shape().dims::<2>()[1]));
    let linears = flops::bert_linears(&model.bert, args.seq, head);
    let flops = flops::step_flops(&config, args.seq, args.batch, &linears, step_kind(args.mode));
    let lr = if adapter.is_some() { 1e-4 } else { 1e-5 };
    let timing = time_steps(&args, model, (input, labels), lr)?;

    let mut sorted = timing.step_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let examples_per_s = (args.batch * args.steps) as f64 / timing.wall_s;
    let effective_gflops = examples_per_s * flops.step / 1e9;
    let mode = format!("{:?}", args.mode).to_lowercase();
    println!(
        "minbert bench {mode} {}: {examples_per_s:.1} ex/s, {effective_gflops:.1} GFLOP/s, median step {median:.1} ms, peak RSS {} MiB, cpu_util {}, device {}",
        args.precision.name(),
        peak_rss_mib().map_or("?".into(), |m| format!("{m:.0}")),
        timing.cpu_util.map_or("?".into(), |c| format!("{c:.2}")),
        compute.description,
    );
    if let Some(path) = &args.json {
        let value = json!({
            "tool": "minbert",
            "minbert": env!("CARGO_PKG_VERSION"),
            "burn": "0.22.1",
            "backend": args.device.device,
            "device": compute.description,
            "mode": mode,
            "precision": args.precision.name(),
            "batch": args.batch,
            "seq": args.seq,
            "rank": adapter.as_ref().map(|a| a.r),
            "alpha": adapter.as_ref().map(|a| a.lora_alpha),
            "targets": adapter.as_ref().map(|_| args.targets.clone()),
            "threads": args.threads,
            "steps": args.steps,
            "warmup": args.warmup,
            "seed": args.seed,
            "examples_per_s": examples_per_s,
            "step_ms_median": median,
            "step_ms": timing.step_ms,
            "peak_rss_mib": peak_rss_mib(),
            "trainable_params": if train { trainable } else { 0 },
            "total_params": total,
            "cpu_util": timing.cpu_util,
            "last_value": timing.last_value,
            "gflop_per_example_forward": flops.forward / 1e9,
            "gflop_per_example_step": flops.step / 1e9,
            "effective_gflops": effective_gflops,
        });
        write_json(path, &value)?;
    }
    Ok(())
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

/// `--mode gemm`: times each of the workload's products and prints their GFLOP/s.
fn run_gemm(args: &BenchArgs, device: &Device, description: &str) -> Result<()> {
    let dir = args.model.resolve()?.dir;
    let config_path = dir.join("config.json");
    let config =
        BertConfig::from_hf_file(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let mut timings = Vec::new();
    for shape in gemm::workload_shapes(&config, args.batch * args.seq, args.rank) {
        let timing = gemm::time_gemm(&shape, device, args.warmup, args.steps)?;
        println!(
            "minbert bench gemm {:<18} {}x{}x{}: median {:.1} GFLOP/s, best {:.1} GFLOP/s, device {description}",
            shape.name, shape.m, shape.k, shape.n, timing.gflops_median, timing.gflops_best
        );
        timings.push(timing);
    }
    if let Some(path) = &args.json {
        let value = json!({
            "tool": "minbert",
            "minbert": env!("CARGO_PKG_VERSION"),
            "backend": args.device.device,
            "device": description,
            "mode": "gemm",
            "threads": args.threads,
            "steps": args.steps,
            "warmup": args.warmup,
            "gemm": timings,
        });
        write_json(path, &value)?;
    }
    Ok(())
}

/// The model with the benchmark's adapters (lora, dora) and head, and its config.
fn bench_model(args: &BenchArgs, device: &Device) -> Result<(BertConfig, Classifier, Option<LoraConfig>)> {
    let dir = args.model.resolve()?.dir;
    let (config, mut bert) =
        load_pretrained(&dir, device).with_context(|| format!("loading model {}", dir.display()))?;
    let adapter = matches!(args.mode, BenchMode::Lora | BenchMode::Dora).then(|| {
        LoraConfig::new(TargetModules::Names(args.targets.clone()))
            .with_r(args.rank)
            .with_lora_alpha(args.alpha)
            .with_use_dora(args.mode == BenchMode::Dora)
    });
    if let Some(adapter) = &adapter {
        inject_adapter(&mut bert, adapter).context("attaching the benchmark's adapters")?;
    }
    if bert.pooler.is_none() {
        bail!(
            "{}: the benchmark's head sits on the pooler, and this checkpoint has none",
            dir.display()
        );
    }
    if args.seq > config.max_position_embeddings {
        bail!(
            "--seq {} exceeds the model's {} positions",
            args.seq,
            config.max_position_embeddings
        );
    }
    let head = LinearConfig::new(config.hidden_size, 5).init(device);
    Ok((config, Classifier { bert, head }, adapter))
}

/// Inputs as the reference makes them: ids uniform in [1000, 30000), `[CLS]` first, `[SEP]`
/// last, no padding; labels uniform over the 5 classes.
fn bench_inputs(args: &BenchArgs, vocab_size: usize, device: &Device) -> (BertInput, Tensor<1, Int>) {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let (b, s) = (args.batch, args.seq);
    let mut ids: Vec<i64> = (0..b * s)
        .map(|_| rng.random_range(1000..30000.min(vocab_size as i64)))
        .collect();
    for row in ids.chunks_mut(s) {
        row[0] = 101;
        row[s - 1] = 102;
    }
    let labels: Vec<i64> = (0..b).map(|_| rng.random_range(0..5)).collect();
    let ints = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [b, s]), device);
    let input = BertInput {
        input_ids: ints(ids),
        attention_mask: ints(vec![1; b * s]),
        token_type_ids: ints(vec![0; b * s]),
    };
    (input, Tensor::<1, Int>::from_data(TensorData::new(labels, [b]), device))
}

/// What the timed steps took.
struct Timing {
    /// Milliseconds of each timed step.
    step_ms: Vec<f64>,
    wall_s: f64,
    /// CPU seconds per wall second over the timed steps (where the OS reports them).
    cpu_util: Option<f64>,
    /// The last step's loss (training) or output sum (inference), to compare with the reference.
    last_value: f64,
}

/// Runs the warm-up and timed steps. Training steps are the trainer's: its AdamW and, in half
/// precision, its mixed-precision step (a half copy computes, the f32 master weights and AdamW
/// state update, f16 with dynamic loss scaling).
fn time_steps(
    args: &BenchArgs,
    model: Classifier,
    (input, labels): (BertInput, Tensor<1, Int>),
    lr: f64,
) -> Result<Timing> {
    let mut weights = MixedPrecision::new(model, args.precision.half_dtype(), AdamW::new(0.9, 0.999, 1e-8));
    let mut scaler = (args.precision == Precision::F16).then(|| LossScaler::new(65536.0));
    let loss_fn = CrossEntropyLossConfig::new().init(&labels.device());
    let mut step_ms = Vec::with_capacity(args.steps);
    let mut last_value = 0.0;
    let mut timed_start = (Instant::now(), cpu_seconds());
    for step in 0..args.warmup + args.steps {
        if step == args.warmup {
            timed_start = (Instant::now(), cpu_seconds());
        }
        let t0 = Instant::now();
        last_value = if args.mode == BenchMode::Infer {
            let out = weights.working().bert.forward(input.clone());
            f64::from(out.last_hidden_state.sum().cast(DType::F32).into_scalar::<f32>())
        } else {
            let working = weights.working();
            let loss = loss_fn.forward(working.logits(input.clone()).cast(DType::F32), labels.clone());
            let value = f64::from(loss.clone().into_scalar::<f32>());
            let loss_scale = scaler.as_ref().map_or(1.0, |s| s.scale);
            let grads = collect_grads(working, &(loss * loss_scale).backward());
            weights.step(grads, loss_scale, scaler.as_mut(), 0.0, |_| (lr, 0.01));
            value
        };
        // A GPU runs the optimizer's update after the loss was read: wait for it.
        labels
            .device()
            .sync()
            .map_err(|err| anyhow::anyhow!("the device failed in step {step}: {err:?}"))?;
        if step >= args.warmup {
            step_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let wall_s = timed_start.0.elapsed().as_secs_f64();
    let cpu_util = cpu_seconds()
        .zip(timed_start.1)
        .map(|(end, start)| (end - start) / wall_s);
    Ok(Timing {
        step_ms,
        wall_s,
        cpu_util,
        last_value,
    })
}
