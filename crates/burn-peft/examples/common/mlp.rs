//! A small non-BERT model that takes adapters: two linear layers with a ReLU between them.
//! Shared by the `mlp_lora` example and the crate's tests.

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use burn_peft::{AdaptableModel, AdaptedLinear};

#[derive(Module, Debug)]
pub struct Mlp {
    pub hidden: AdaptedLinear,
    pub output: AdaptedLinear,
}

impl Mlp {
    pub fn new(d_in: usize, d_hidden: usize, d_out: usize, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(d_in, d_hidden).init(device).into(),
            output: LinearConfig::new(d_hidden, d_out).init(device).into(),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(relu(self.hidden.forward(x)))
    }

    pub fn mse(&self, x: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
        (self.forward(x) - target).square().mean()
    }
}

/// Module paths are the field names, as PyTorch would name the same module's layers.
impl AdaptableModel for Mlp {
    fn linear_paths(&self) -> Vec<String> {
        vec!["hidden".into(), "output".into()]
    }

    fn adapted_linear(&self, path: &str) -> Option<&AdaptedLinear> {
        match path {
            "hidden" => Some(&self.hidden),
            "output" => Some(&self.output),
            _ => None,
        }
    }

    fn adapted_linear_mut(&mut self, path: &str) -> Option<&mut AdaptedLinear> {
        match path {
            "hidden" => Some(&mut self.hidden),
            "output" => Some(&mut self.output),
            _ => None,
        }
    }
}

/// A regression task the base MLP does not solve: targets from another random MLP.
pub fn task(d_in: usize, d_out: usize, n: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let x = Tensor::<2>::random([n, d_in], Distribution::Normal(0.0, 1.0), device);
    let teacher = Mlp::new(d_in, 32, d_out, device);
    let y = teacher.forward(x.clone()).detach();
    (x, y)
}
