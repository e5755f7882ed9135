//! What `minbert info` reports of a model: its architecture, and its parameters by part.

use burn::module::Module;
use burn_peft::count_params;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{BertConfig, BertModel};

impl BertConfig {
    /// The architecture as `minbert info` prints it, one `name  value` line each.
    pub fn describe(&self) -> Vec<String> {
        vec![
            format!("layers       {}", self.num_hidden_layers),
            format!(
                "hidden       {} ({} heads of {})",
                self.hidden_size,
                self.num_attention_heads,
                self.head_size()
            ),
            format!(
                "ffn          {} ({})",
                self.intermediate_size,
                self.hidden_act.hf_name()
            ),
            format!(
                "vocab        {} tokens, {} positions, {} token types",
                self.vocab_size, self.max_position_embeddings, self.type_vocab_size
            ),
            format!("layer norm   eps {:e}", self.layer_norm_eps),
            format!(
                "dropout      hidden {}, attention {}",
                self.hidden_dropout_prob, self.attention_probs_dropout_prob
            ),
        ]
    }

    /// The architecture with Hugging Face's field names (`pad_token_id` aside).
    pub fn to_json(&self) -> Value {
        json!({
            "num_hidden_layers": self.num_hidden_layers,
            "hidden_size": self.hidden_size,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act.hf_name(),
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "layer_norm_eps": self.layer_norm_eps,
            "hidden_dropout_prob": self.hidden_dropout_prob,
            "attention_probs_dropout_prob": self.attention_probs_dropout_prob,
        })
    }
}

/// The base model's parts, counted before adapters (which add to the encoder) are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BaseParams {
    pub embeddings: usize,
    pub encoder: usize,
    /// The first layer's (every layer has the same).
    pub per_layer: usize,
    /// 0 where the checkpoint has no pooler.
    pub pooler: usize,
}

impl BaseParams {
    /// The parts of `model` as it is now.
    pub fn of(model: &BertModel) -> Self {
        Self {
            embeddings: model.embeddings.num_params(),
            encoder: model.encoder.num_params(),
            per_layer: model.encoder.layer.first().map_or(0, |l| l.num_params()),
            pooler: model.pooler.as_ref().map_or(0, |p| p.num_params()),
        }
    }

    /// These parts and what `model` (the same model, adapters attached or not) has in all.
    pub fn with_total(self, model: &BertModel) -> ParamCounts {
        let count = count_params(model);
        ParamCounts {
            base: self,
            adapter: count.total - self.embeddings - self.encoder - self.pooler,
            total: count.total,
            trainable: count.trainable,
        }
    }
}

/// A model's parameters by part, as `minbert info` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParamCounts {
    #[serde(flatten)]
    pub base: BaseParams,
    /// What the adapters add.
    pub adapter: usize,
    /// All parameters, and those that train (on an autodiff device: the frozen base does not).
    pub total: usize,
    pub trainable: usize,
}

impl ParamCounts {
    /// The `parameters` table `minbert info` prints; the adapter's row only `with_adapter`.
    pub fn describe(&self, with_adapter: bool) -> Vec<String> {
        let BaseParams {
            embeddings,
            encoder,
            per_layer,
            pooler,
        } = self.base;
        let no_pooler = if pooler == 0 { "  (none in this checkpoint)" } else { "" };
        let mut lines = vec![
            "parameters".to_string(),
            format!("  embeddings {embeddings:>12}"),
            format!("  encoder    {encoder:>12}  ({per_layer} per layer)"),
            format!("  pooler     {pooler:>12}{no_pooler}"),
        ];
        if with_adapter {
            lines.push(format!("  adapter    {:>12}", self.adapter));
        }
        lines.push(format!("  total      {:>12}", self.total));
        lines.push(format!("  trainable  {:>12}", self.trainable));
        lines
    }
}
