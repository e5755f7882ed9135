//! What a multitask model is made of, as configs and checkpoints name it: pooling, heads,
//! losses, the adapter section and the compute precision.

use std::fmt;

use burn::tensor::DType;
use burn_peft::TargetModules;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

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

/// The `[adapter]` section of a run's config: what is fine-tuned and how. A key left out takes
/// the value of [`AdapterConfig::default`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdapterConfig {
    pub mode: Mode,
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub rslora: bool,
    pub targets: Targets,
    /// Train the base encoder alongside the adapters (lora and dora only).
    pub train_base: bool,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            r: 8,
            alpha: 16.0,
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

/// What `targets` accepts, for error messages.
pub const TARGET_PRESETS: &str = "\"attn\", \"attn-out\", \"all-linear\" or a list of module names";

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
