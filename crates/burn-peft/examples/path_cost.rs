//! What each path costs: one training step (forward + backward) of the linear layers of
//! minbert's benchmark workload (six all-MiniLM-L6-v2 layers: q, k, v, attention output at
//! 384 x 384, the FFN at 384 x 1536 and back; 32 x 64 tokens; LoRA / DoRA r = 8, alpha 16 on
//! q, k, v and the attention output), with adapters in activation space (`AdaptedLinear`) and in
//! weight space (`PeftModel`). Attention itself, the same for both, is left out.
//!
//! `cargo run --release -p burn-peft --example path_cost [STEPS]`

use std::time::Instant;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Distribution, Tensor};
use burn_peft::{AdaptableModel, AdaptedLinear, LoraConfig, PeftModel, TargetModules, get_peft_model, inject_adapter};

const LAYERS: usize = 6;
const TARGETS: [&str; 4] = ["query", "key", "value", "output"];

/// A projection of either path.
trait Projection {
    fn project(&self, x: Tensor<2>) -> Tensor<2>;
}

impl Projection for Linear {
    fn project(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
}

impl Projection for AdaptedLinear {
    fn project(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
}

#[derive(Module, Debug)]
struct Block<P: Module> {
    query: P,
    key: P,
    value: P,
    output: P,
    inner: Linear,
    outer: Linear,
}

#[derive(Module, Debug)]
struct Stack<P: Module> {
    layers: Vec<Block<P>>,
}

impl<P: Module + Projection> Stack<P> {
    fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for b in &self.layers {
            let attended = b.query.project(x.clone()) + b.key.project(x.clone()) + b.value.project(x.clone());
            x = x + b.output.project(attended);
            x = x.clone() + b.outer.forward(gelu(b.inner.forward(x)));
        }
        x
    }
}

fn stack(device: &Device) -> Stack<Linear> {
    let linear = |i, o| LinearConfig::new(i, o).init(device);
    Stack {
        layers: (0..LAYERS)
            .map(|_| Block {
                query: linear(384, 384),
                key: linear(384, 384),
                value: linear(384, 384),
                output: linear(384, 384),
                inner: linear(384, 1536),
                outer: linear(1536, 384),
            })
            .collect(),
    }
}

impl AdaptableModel for Stack<AdaptedLinear> {
    fn linear_paths(&self) -> Vec<String> {
        (0..LAYERS)
            .flat_map(|l| TARGETS.map(|t| format!("layers.{l}.{t}")))
            .collect()
    }

    fn adapted_linear(&self, path: &str) -> Option<&AdaptedLinear> {
        let (layer, name) = path.strip_prefix("layers.")?.split_once('.')?;
        let b = self.layers.get(layer.parse::<usize>().ok()?)?;
        [&b.query, &b.key, &b.value, &b.output]
            .into_iter()
            .zip(TARGETS)
            .find(|(_, t)| *t == name)
            .map(|(l, _)| l)
    }

    fn adapted_linear_mut(&mut self, path: &str) -> Option<&mut AdaptedLinear> {
        let (layer, name) = path.strip_prefix("layers.")?.split_once('.')?;
        let b = self.layers.get_mut(layer.parse::<usize>().ok()?)?;
        [&mut b.query, &mut b.key, &mut b.value, &mut b.output]
            .into_iter()
            .zip(TARGETS)
            .find(|(_, t)| *t == name)
            .map(|(l, _)| l)
    }
}

fn activation_space(plain: Stack<Linear>) -> Stack<AdaptedLinear> {
    let adapt = |l: Linear| AdaptedLinear::from(l);
    Stack {
        layers: plain
            .layers
            .into_iter()
            .map(|b| Block {
                query: adapt(b.query),
                key: adapt(b.key),
                value: adapt(b.value),
                output: adapt(b.output),
                inner: b.inner,
                outer: b.outer,
            })
            .collect(),
    }
}

/// Median milliseconds of `steps` forward + backward passes, after 3 warm-ups.
fn time(steps: usize, mut step: impl FnMut()) -> f64 {
    for _ in 0..3 {
        step();
    }
    let mut ms: Vec<f64> = (0..steps)
        .map(|_| {
            let start = Instant::now();
            step();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[steps / 2]
}

fn main() -> Result<(), burn_peft::PeftError> {
    let steps = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::random([32 * 64, 384], Distribution::Normal(0.0, 1.0), &device);
    println!("forward + backward of the workload's linear layers, median of {steps} steps:");
    for use_dora in [false, true] {
        let config = LoraConfig::new(TargetModules::Names(TARGETS.map(String::from).to_vec()))
            .with_r(8)
            .with_lora_alpha(16.0)
            .with_use_dora(use_dora);
        let mut activation = activation_space(stack(&device));
        inject_adapter(&mut activation, &config)?;
        let activation_ms = time(steps, || {
            let _ = activation.forward(x.clone()).square().mean().backward();
        });
        let weight: PeftModel<Stack<Linear>> = get_peft_model(stack(&device), config)?;
        let weight_ms = time(steps, || {
            let _ = weight.model().forward(x.clone()).square().mean().backward();
        });
        println!(
            "{}: activation space (AdaptedLinear) {activation_ms:.0} ms, weight space (PeftModel) {weight_ms:.0} ms, ratio {:.2}",
            if use_dora { "DoRA" } else { "LoRA" },
            weight_ms / activation_ms
        );
    }
    Ok(())
}
