//! What a run's inputs were, by content: files by size and sha256, and the base model by the
//! hashes of its config, weights and tokenizer. A run or checkpoint that moved to another
//! folder or machine is recognised by these, not by its paths.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::TaskError;
use crate::files::sha256_file;

/// A file by name (not path: the folder may move), size and sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFingerprint {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

impl FileFingerprint {
    pub fn of(path: &Path) -> Result<Self, TaskError> {
        let bytes = std::fs::metadata(path).map_err(|e| TaskError::io(path, e))?.len();
        Ok(Self {
            file: crate::files::file_name(path),
            bytes,
            sha256: sha256_file(path)?,
        })
    }

    /// What differs in `now` from `self`, in words (`None`: the same file).
    pub fn change(&self, now: &Self) -> Option<String> {
        if self.file != now.file {
            Some(format!("it was {}, now {}", self.file, now.file))
        } else if self.bytes != now.bytes {
            Some(format!("{} bytes when recorded, {} now", self.bytes, now.bytes))
        } else if self.sha256 != now.sha256 {
            Some(format!(
                "same size, other content (sha256 {} recorded, {} now)",
                short(&self.sha256),
                short(&now.sha256)
            ))
        } else {
            None
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// The files of a base model directory that a checkpoint depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub config_sha256: String,
    pub weights_sha256: String,
    pub tokenizer: FileFingerprint,
}

/// The tokenizer file a model directory is read with (as `BertTokenizer::from_dir` picks it).
pub fn tokenizer_file(dir: &Path) -> Option<std::path::PathBuf> {
    ["tokenizer.json", "vocab.txt"]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

impl ModelFiles {
    pub fn of(dir: &Path) -> Result<Self, TaskError> {
        let tokenizer = tokenizer_file(dir)
            .ok_or_else(|| TaskError::checkpoint(dir, "holds no tokenizer: expected tokenizer.json or vocab.txt"))?;
        Ok(Self {
            config_sha256: sha256_file(&dir.join("config.json"))?,
            weights_sha256: sha256_file(&dir.join("model.safetensors"))?,
            tokenizer: FileFingerprint::of(&tokenizer)?,
        })
    }
}
