//! BERT tokenization with the `tokenizers` crate, set up to give the same ids as Hugging Face's
//! fast tokenizer called with `truncation="longest_first", max_length=N, padding=False`.

use std::fmt;
use std::path::{Path, PathBuf};

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Why a tokenizer could not be loaded or a text not encoded.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("no tokenizer in {dir}: expected tokenizer.json or vocab.txt")]
    NotFound { dir: PathBuf },
    #[error("cannot load tokenizer {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("vocabulary {path} has no {token} token")]
    MissingSpecialToken { path: PathBuf, token: &'static str },
    #[error("max_len {max_len} is too small: a {what} needs at least {min} tokens")]
    MaxLenTooSmall {
        max_len: usize,
        what: &'static str,
        min: usize,
    },
    #[error("cannot encode {text:?}: {message}")]
    Encode { text: String, message: String },
}

/// One encoded text or text pair, unpadded, special tokens included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
    pub tokens: Vec<String>,
}

impl Encoded {
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }
}

/// A table of the tokens: position, id, token type and token, one per line.
impl fmt::Display for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:>5}  {:>7}  {:>4}  token", "pos", "id", "type")?;
        let rows = self.input_ids.iter().zip(&self.token_type_ids).zip(&self.tokens);
        for (i, ((id, ty), token)) in rows.enumerate() {
            writeln!(f, "{i:>5}  {id:>7}  {ty:>4}  {token}")?;
        }
        Ok(())
    }
}

/// A BERT WordPiece tokenizer loaded from a model directory.
#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    source: PathBuf,
    pad_id: u32,
    max_len: usize,
}

/// The longest input BERT's position embeddings usually allow; lower it with `with_max_len`.
pub const DEFAULT_MAX_LEN: usize = 512;

/// The file beside `vocab.txt` that says whether a model is cased.
const TOKENIZER_CONFIG: &str = "tokenizer_config.json";

/// How HF's `BertTokenizer` normalises case and accents: `do_lower_case` (true when the key or
/// the file is absent, as in HF) and `strip_accents` (absent: as `do_lower_case`).
struct Casing {
    lowercase: bool,
    strip_accents: Option<bool>,
}

impl Casing {
    fn read(path: &Path) -> Result<Self, TokenizerError> {
        let uncased = Self {
            lowercase: true,
            strip_accents: None,
        };
        if !path.is_file() {
            return Ok(uncased);
        }
        let bad = |message: String| TokenizerError::Load {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}; fix or remove it")))?;
        let flag = |key: &str| match &config[key] {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Bool(b) => Ok(Some(*b)),
            other => Err(bad(format!("{key} is {other}, expected true, false or null"))),
        };
        Ok(Self {
            lowercase: flag("do_lower_case")?.unwrap_or(uncased.lowercase),
            strip_accents: flag("strip_accents")?,
        })
    }
}

impl BertTokenizer {
    /// Loads `tokenizer.json` from `dir`, or builds BERT's WordPiece from `vocab.txt` (cased or
    /// uncased as its `tokenizer_config.json` says).
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        if json.is_file() {
            Self::from_tokenizer_json(&json)
        } else if vocab.is_file() {
            Self::from_vocab_txt(&vocab)
        } else {
            Err(TokenizerError::NotFound { dir: dir.to_path_buf() })
        }
    }

    /// Loads a `tokenizer.json`. Its own truncation and padding settings are dropped
    /// (all-MiniLM-L6-v2's pads every text to 128): [`encode`](Self::encode) sets them.
    pub fn from_tokenizer_json(path: &Path) -> Result<Self, TokenizerError> {
        let mut inner = Tokenizer::from_file(path).map_err(|e| TokenizerError::Load {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| TokenizerError::Load {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::finish(inner, path)
    }

    /// Builds HF's `BertTokenizer` pipeline (lowercase and strip accents unless
    /// `tokenizer_config.json` beside `path` says otherwise, split CJK, clean control
    /// characters, WordPiece with `##` and words over 100 characters as `[UNK]`).
    pub fn from_vocab_txt(path: &Path) -> Result<Self, TokenizerError> {
        let load_err = |message: String| TokenizerError::Load {
            path: path.to_path_buf(),
            message,
        };
        let casing = Casing::read(&path.with_file_name(TOKENIZER_CONFIG))?;
        let vocab = WordPiece::read_file(&path.to_string_lossy()).map_err(|e| load_err(e.to_string()))?;
        let id_of = |token: &'static str| {
            vocab.get(token).copied().ok_or(TokenizerError::MissingSpecialToken {
                path: path.to_path_buf(),
                token,
            })
        };
        let (cls, sep) = (id_of("[CLS]")?, id_of("[SEP]")?);
        id_of("[UNK]")?;
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .continuing_subword_prefix("##".into())
            .max_input_chars_per_word(100)
            .build()
            .map_err(|e| load_err(e.to_string()))?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::new(
                true,
                true,
                casing.strip_accents,
                casing.lowercase,
            )))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
        let specials: Vec<AddedToken> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .into_iter()
            .filter(|t| inner.token_to_id(t).is_some())
            .map(|t| AddedToken::from(t, true))
            .collect();
        inner.add_special_tokens(&specials);
        Self::finish(inner, path)
    }

    fn finish(inner: Tokenizer, path: &Path) -> Result<Self, TokenizerError> {
        let pad_id = inner.token_to_id("[PAD]").ok_or(TokenizerError::MissingSpecialToken {
            path: path.to_path_buf(),
            token: "[PAD]",
        })?;
        let tokenizer = Self {
            inner,
            source: path.to_path_buf(),
            pad_id,
            max_len: 0,
        };
        tokenizer.with_max_len(DEFAULT_MAX_LEN)
    }

    /// Truncates every encoding to `max_len` tokens in all (special tokens included), longest
    /// first for pairs: the `tokenizers` rule, which HF's fast tokenizer uses.
    pub fn with_max_len(mut self, max_len: usize) -> Result<Self, TokenizerError> {
        if max_len < 3 {
            return Err(TokenizerError::MaxLenTooSmall {
                max_len,
                what: "pair",
                min: 3,
            });
        }
        self.inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| TokenizerError::Load {
                path: self.source.clone(),
                message: e.to_string(),
            })?;
        self.max_len = max_len;
        Ok(self)
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The file the tokenizer was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Encodes `text` (and `pair`) as `[CLS] text [SEP] (pair [SEP])`, truncated to `max_len`.
    pub fn encode(&self, text: &str, pair: Option<&str>) -> Result<Encoded, TokenizerError> {
        let input: EncodeInput = match pair {
            Some(p) => (text, p).into(),
            None => text.into(),
        };
        let enc = self.inner.encode(input, true).map_err(|e| TokenizerError::Encode {
            text: text.to_string(),
            message: e.to_string(),
        })?;
        Ok(Encoded {
            input_ids: enc.get_ids().to_vec(),
            token_type_ids: enc.get_type_ids().to_vec(),
            tokens: enc.get_tokens().to_vec(),
        })
    }
}
