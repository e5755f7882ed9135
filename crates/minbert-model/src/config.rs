//! `BertConfig`: the architecture, read from a Hugging Face `config.json`.

use std::path::Path;

use burn::config::Config;
use serde_json::{Map, Value};

use crate::error::ModelError;

/// The FFN activation (`hidden_act` in `config.json`).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum HiddenAct {
    /// `"gelu"`: the exact erf form, BERT's default.
    Gelu,
    /// `"gelu_new"` / `"gelu_pytorch_tanh"`: the tanh approximation.
    GeluTanh,
    /// `"relu"`.
    Relu,
}

impl HiddenAct {
    fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            _ => None,
        }
    }

    pub fn hf_name(&self) -> &'static str {
        match self {
            Self::Gelu => "gelu",
            Self::GeluTanh => "gelu_new",
            Self::Relu => "relu",
        }
    }
}

/// The architecture of a post-LayerNorm BERT encoder, with Hugging Face's field names.
#[derive(Config, Debug, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    #[config(default = 2)]
    pub type_vocab_size: usize,
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    #[config(default = 0.1)]
    pub hidden_dropout_prob: f64,
    #[config(default = 0.1)]
    pub attention_probs_dropout_prob: f64,
    #[config(default = "HiddenAct::Gelu")]
    pub hidden_act: HiddenAct,
    #[config(default = 0)]
    pub pad_token_id: usize,
}

impl BertConfig {
    /// Reads a Hugging Face `config.json`. Required: the five sizes; the others fall back to
    /// `BertModel`'s defaults. An activation or position embedding we do not implement is an
    /// error, never silently replaced.
    pub fn from_hf_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        })?;
        let obj = value.as_object().ok_or_else(|| ModelError::Config {
            path: path.to_path_buf(),
            message: "expected a JSON object".into(),
        })?;
        Self::from_hf_map(obj).map_err(|message| ModelError::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    fn from_hf_map(obj: &Map<String, Value>) -> Result<Self, String> {
        let size = |key: &str| -> Result<Option<usize>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .filter(|&n| n > 0)
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| format!("key \"{key}\": expected a positive integer, found {v}")),
            }
        };
        let required = |key: &str| size(key)?.ok_or_else(|| format!("missing key \"{key}\" (a positive integer)"));
        let prob = |key: &str| -> Result<Option<f64>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|p| (0.0..1.0).contains(p))
                    .map(Some)
                    .ok_or_else(|| format!("key \"{key}\": expected a number in [0, 1), found {v}")),
            }
        };

        let mut config = Self::new(
            required("vocab_size")?,
            required("hidden_size")?,
            required("num_hidden_layers")?,
            required("num_attention_heads")?,
            required("intermediate_size")?,
        );
        if config.hidden_size % config.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ));
        }
        if let Some(n) = size("max_position_embeddings")? {
            config.max_position_embeddings = n;
        }
        if let Some(n) = size("type_vocab_size")? {
            config.type_vocab_size = n;
        }
        if let Some(v) = obj.get("layer_norm_eps").filter(|v| !v.is_null()) {
            config.layer_norm_eps = v
                .as_f64()
                .filter(|e| *e > 0.0)
                .ok_or_else(|| format!("key \"layer_norm_eps\": expected a positive number, found {v}"))?;
        }
        if let Some(p) = prob("hidden_dropout_prob")? {
            config.hidden_dropout_prob = p;
        }
        if let Some(p) = prob("attention_probs_dropout_prob")? {
            config.attention_probs_dropout_prob = p;
        }
        if let Some(v) = obj.get("pad_token_id").and_then(Value::as_u64) {
            config.pad_token_id = v as usize;
        }
        if let Some(v) = obj.get("hidden_act") {
            let name = v.as_str().unwrap_or_default();
            config.hidden_act = HiddenAct::from_hf(name).ok_or_else(|| {
                format!("key \"hidden_act\": {v} is not supported (expected \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\" or \"relu\")")
            })?;
        }
        if let Some(v) = obj
            .get("position_embedding_type")
            .filter(|v| !v.is_null() && v.as_str() != Some("absolute"))
        {
            return Err(format!(
                "key \"position_embedding_type\": {v} is not supported (only \"absolute\")"
            ));
        }
        if let Some(v) = obj.get("model_type").and_then(Value::as_str).filter(|v| *v != "bert") {
            return Err(format!(
                "key \"model_type\": \"{v}\" is not a BERT model (expected \"bert\")"
            ));
        }
        Ok(config)
    }

    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<BertConfig, String> {
        BertConfig::from_hf_map(v.as_object().unwrap())
    }

    fn base() -> Value {
        json!({"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
               "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
               "layer_norm_eps": 1e-12, "position_embedding_type": "absolute", "model_type": "bert"})
    }

    #[test]
    fn bert_base_uncased_parses_with_defaults() {
        let c = parse(base()).unwrap();
        assert_eq!((c.hidden_size, c.num_hidden_layers, c.head_size()), (768, 12, 64));
        assert_eq!(c.max_position_embeddings, 512);
        assert_eq!(c.hidden_act, HiddenAct::Gelu);
    }

    #[test]
    fn unsupported_settings_are_errors_naming_the_key() {
        let mut v = base();
        v["hidden_act"] = json!("swish");
        assert!(parse(v).unwrap_err().contains("hidden_act"));
        let mut v = base();
        v["position_embedding_type"] = json!("relative_key");
        assert!(parse(v).unwrap_err().contains("position_embedding_type"));
        let mut v = base();
        v.as_object_mut().unwrap().remove("intermediate_size");
        assert!(parse(v).unwrap_err().contains("missing key \"intermediate_size\""));
        let mut v = base();
        v["num_attention_heads"] = json!(7);
        assert!(parse(v).unwrap_err().contains("multiple"));
        let mut v = base();
        v["hidden_dropout_prob"] = json!(1.5);
        assert!(parse(v).unwrap_err().contains("hidden_dropout_prob"));
    }
}
