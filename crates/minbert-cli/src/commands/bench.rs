//! `minbert bench`: the workload of `docs/BENCHMARKS.md`, with the same JSON fields as
//! the PyTorch reference `bench_train.py`, so the two can be compared run by run.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use burn_peft::{LoraConfig, ParamCount, TargetModules, count_params, inject_adapter};
use clap::{Args, ValueEnum};
use minbert_model::{BertInput, BertModel, load_pretrained};
use minbert_task::Precision;
use minbert_train::optim::{AdamW, LossScaler, global_norm, scale};
use minbert_train::params::{cast_params, collect_grads, set_values};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;

use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;
use crate::process_stats::{cpu_seconds, peak_rss_mib};
use minbert_task::files::write_json;

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
    let dir = args.model.resolve()?.dir;
    let device = args.device.device()?;
    let train = args.mode != BenchMode::Infer;
    let model_device = if train {
        device.clone().autodiff()
    } else {
        device.clone()
    };
    let (config, mut bert) =
        load_pretrained(&dir, &model_device).with_context(|| format!("loading model {}", dir.display()))?;
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
    let half = args.precision.half_dtype();
    if let Some(dtype) = half.filter(|&d| !device.supports_dtype(d)) {
        bail!(
            "--precision {}: {dtype:?} is not supported by --device {}",
            args.precision.name(),
            args.device.device
        );
    }

    // Inputs as the reference makes them: ids uniform in [1000, 30000), [CLS] first, [SEP] last.
    let mut rng = StdRng::seed_from_u64(args.seed);
    let (b, s) = (args.batch, args.seq);
    let mut ids: Vec<i64> = (0..b * s)
        .map(|_| rng.random_range(1000..30000.min(config.vocab_size as i64)))
        .collect();
    for row in ids.chunks_mut(s) {
        row[0] = 101;
        row[s - 1] = 102;
    }
    let labels: Vec<i64> = (0..b).map(|_| rng.random_range(0..5)).collect();
    let ints = |v: Vec<i64>, d: &Device| Tensor::<2, Int>::from_data(TensorData::new(v, [b, s]), d);
    let input = BertInput {
        input_ids: ints(ids, &model_device),
        attention_mask: ints(vec![1; b * s], &model_device),
        token_type_ids: ints(vec![0; b * s], &model_device),
    };
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [b]), &model_device);

    let head = LinearConfig::new(config.hidden_size, 5).init(&model_device);
    let mut model = Classifier { bert, head };
    let ParamCount {
        trainable,
        total: total_params,
    } = count_params(&model);
    let trainable_params = if train { trainable } else { 0 };
    let loss_fn = CrossEntropyLossConfig::new().init(&model_device);
    let lr = if adapter.is_some() { 1e-4 } else { 1e-5 };
    // The trainer's AdamW, and in half precision its mixed-precision step (a half copy
    // computes, f32 master weights and AdamW state update), so the figures are those of
    // `minbert train`.
    let mut compute = half.map(|dtype| cast_params(model.clone(), dtype));
    let mut optim = AdamW::new(0.9, 0.999, 1e-8);
    let mut scaler = (args.precision == Precision::F16).then(|| LossScaler::new(65536.0));

    let mut step_ms = Vec::with_capacity(args.steps);
    let mut last_value = 0.0f64;
    let mut timed_start = (Instant::now(), cpu_seconds());
    for step in 0..args.warmup + args.steps {
        if step == args.warmup {
            timed_start = (Instant::now(), cpu_seconds());
        }
        let t0 = Instant::now();
        if !train {
            let out = compute.as_ref().unwrap_or(&model).bert.forward(input.clone());
            last_value = out.last_hidden_state.sum().cast(DType::F32).into_scalar::<f32>() as f64;
        } else if let (Some(working), Some(dtype)) = (compute.take(), half) {
            let loss = loss_fn.forward(working.logits(input.clone()).cast(DType::F32), labels.clone());
            last_value = loss.clone().into_scalar::<f32>() as f64;
            let loss_scale = scaler.as_ref().map_or(1.0, |s| s.scale);
            let mut grads = collect_grads(&working, &(loss * loss_scale).backward());
            scale(&mut grads, 1.0 / loss_scale);
            let finite = global_norm(&grads).is_finite();
            compute = Some(if scaler.as_mut().is_none_or(|s| s.update(finite)) {
                let (master, updated) = optim.step(model, grads, |_| (lr, 0.01));
                model = master;
                set_values(working, &updated, dtype)
            } else {
                working
            });
        } else {
            let loss = loss_fn.forward(model.logits(input.clone()), labels.clone());
            last_value = loss.clone().into_scalar::<f32>() as f64;
            let grads = collect_grads(&model, &loss.backward());
            model = optim.step(model, grads, |_| (lr, 0.01)).0;
        }
        if step >= args.warmup {
            step_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let wall = timed_start.0.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(timed_start.1)
        .map(|(end, start)| (end - start) / wall);

    let mut sorted = step_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let examples_per_s = (b * args.steps) as f64 / wall;
    let mode = format!("{:?}", args.mode).to_lowercase();
    println!(
        "minbert bench {mode} {}: {examples_per_s:.1} ex/s, median step {median:.1} ms, peak RSS {} MiB, cpu_util {}, device {}",
        args.precision.name(),
        peak_rss_mib().map_or("?".into(), |m| format!("{m:.0}")),
        cpu.map_or("?".into(), |c| format!("{c:.2}")),
        args.device.device,
    );
    if let Some(path) = &args.json {
        let value = json!({
            "tool": "minbert",
            "minbert": env!("CARGO_PKG_VERSION"),
            "burn": "0.22.1",
            "backend": args.device.device,
            "mode": mode,
            "precision": args.precision.name(),
            "batch": b,
            "seq": s,
            "rank": adapter.as_ref().map(|a| a.r),
            "alpha": adapter.as_ref().map(|a| a.lora_alpha),
            "targets": adapter.as_ref().map(|_| args.targets.clone()),
            "threads": args.threads,
            "steps": args.steps,
            "warmup": args.warmup,
            "seed": args.seed,
            "examples_per_s": examples_per_s,
            "step_ms_median": median,
            "step_ms": step_ms,
            "peak_rss_mib": peak_rss_mib(),
            "trainable_params": trainable_params,
            "total_params": total_params,
            "cpu_util": cpu,
            "last_value": last_value,
        });
        write_json(path, &value)?;
    }
    Ok(())
}
