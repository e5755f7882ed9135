//! A sequence classifier built from burn-nn's own blocks, with no adapter code in it: a
//! `TransformerEncoder` (whose attention and feed-forward layers are plain `nn::Linear`s), mean
//! pooling and a linear head. Shared by the `transformer_dora` example and the crate's tests.

use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Int, Tensor};

#[derive(Config, Debug)]
pub struct ClassifierConfig {
    #[config(default = 32)]
    pub d_model: usize,
    #[config(default = 64)]
    pub d_ff: usize,
    #[config(default = 4)]
    pub n_heads: usize,
    #[config(default = 2)]
    pub n_layers: usize,
    #[config(default = 3)]
    pub n_classes: usize,
}

#[derive(Module, Debug)]
pub struct Classifier {
    pub encoder: TransformerEncoder,
    pub head: Linear,
}

impl ClassifierConfig {
    pub fn init(&self, device: &Device) -> Classifier {
        Classifier {
            encoder: TransformerEncoderConfig::new(self.d_model, self.d_ff, self.n_heads, self.n_layers)
                .with_dropout(0.0)
                .init(device),
            head: LinearConfig::new(self.d_model, self.n_classes).init(device),
        }
    }
}

impl Classifier {
    /// `[batch, seq, d_model]` to logits `[batch, n_classes]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let hidden = self.encoder.forward(TransformerEncoderInput::new(x));
        self.head.forward(hidden.mean_dim(1).squeeze_dim(1))
    }

    pub fn loss(&self, x: Tensor<3>, labels: Tensor<1, Int>) -> Tensor<1> {
        let logits = self.forward(x);
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, labels)
    }
}

/// `n` random sequences of 6 vectors and a class each, the class a fixed function of the data
/// (which of the first `n_classes` features has the largest mean), so there is something to learn.
pub fn task(config: &ClassifierConfig, n: usize, device: &Device) -> (Tensor<3>, Tensor<1, Int>) {
    let x = Tensor::<3>::random([n, 6, config.d_model], Distribution::Normal(0.0, 1.0), device);
    let labels = x
        .clone()
        .mean_dim(1)
        .squeeze_dim::<2>(1)
        .narrow(1, 0, config.n_classes)
        .argmax(1)
        .squeeze_dim(1);
    (x, labels)
}
