//! The benchmark's model, inputs and timed steps (infer, full, lora, dora).

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use burn_peft::{LoraConfig, TargetModules, inject_adapter};
use minbert_model::{BertConfig, BertInput, BertModel, load_pretrained};
use minbert_task::Precision;
use minbert_train::mixed::MixedPrecision;
use minbert_train::optim::{AdamW, LossScaler};
use minbert_train::params::collect_grads;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::process_stats::cpu_seconds;
use crate::{BenchError, BenchMode, BenchOptions};

/// The reference's head: `Linear(hidden, 5)` on the pooler output.
#[derive(Module, Debug)]
pub struct Classifier {
    pub bert: BertModel,
    pub head: Linear,
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

/// The model with the benchmark's adapters (lora, dora) and head, and its config.
pub fn bench_model(
    options: &BenchOptions,
    device: &Device,
) -> Result<(BertConfig, Classifier, Option<LoraConfig>), BenchError> {
    let dir = &options.model_dir;
    let (config, mut bert) = load_pretrained(dir, device).map_err(|source| BenchError::Model {
        dir: dir.clone(),
        source,
    })?;
    let adapter = matches!(options.mode, BenchMode::Lora | BenchMode::Dora).then(|| {
        LoraConfig::new(TargetModules::Names(options.targets.clone()))
            .with_r(options.rank)
            .with_lora_alpha(options.alpha)
            .with_use_dora(options.mode == BenchMode::Dora)
    });
    if let Some(adapter) = &adapter {
        inject_adapter(&mut bert, adapter).map_err(BenchError::Adapters)?;
    }
    if bert.pooler.is_none() {
        return Err(BenchError::NoPooler { dir: dir.clone() });
    }
    if options.seq > config.max_position_embeddings {
        return Err(BenchError::SeqTooLong {
            seq: options.seq,
            positions: config.max_position_embeddings,
        });
    }
    let head = LinearConfig::new(config.hidden_size, 5).init(device);
    Ok((config, Classifier { bert, head }, adapter))
}

/// Inputs as the reference makes them: ids uniform in [1000, 30000), `[CLS]` first, `[SEP]`
/// last, no padding; labels uniform over the 5 classes.
pub fn bench_inputs(options: &BenchOptions, vocab_size: usize, device: &Device) -> (BertInput, Tensor<1, Int>) {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let (b, s) = (options.batch, options.seq);
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
pub struct Timing {
    /// Milliseconds of each timed step.
    pub step_ms: Vec<f64>,
    pub wall_s: f64,
    /// CPU seconds per wall second over the timed steps (where the OS reports them).
    pub cpu_util: Option<f64>,
    /// The last step's loss (training) or output sum (inference), to compare with the reference.
    pub last_value: f64,
}

/// Runs the warm-up and timed steps. Training steps are the trainer's: its AdamW and, in half
/// precision, its mixed-precision step (a half copy computes, the f32 master weights and AdamW
/// state update, f16 with dynamic loss scaling).
pub fn time_steps(
    options: &BenchOptions,
    model: Classifier,
    (input, labels): (BertInput, Tensor<1, Int>),
    lr: f64,
) -> Result<Timing, BenchError> {
    let mut weights = MixedPrecision::new(model, options.precision.half_dtype(), AdamW::new(0.9, 0.999, 1e-8));
    let mut scaler = (options.precision == Precision::F16).then(|| LossScaler::new(65536.0));
    let loss_fn = CrossEntropyLossConfig::new().init(&labels.device());
    let mut step_ms = Vec::with_capacity(options.steps);
    let mut last_value = 0.0;
    let mut timed_start = (Instant::now(), cpu_seconds());
    for step in 0..options.warmup + options.steps {
        if step == options.warmup {
            timed_start = (Instant::now(), cpu_seconds());
        }
        let t0 = Instant::now();
        last_value = if options.mode == BenchMode::Infer {
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
        labels.device().sync().map_err(|err| BenchError::DeviceFailed {
            what: format!("step {step}"),
            message: format!("{err:?}"),
        })?;
        if step >= options.warmup {
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
