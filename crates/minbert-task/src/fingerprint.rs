//! What a run's inputs were, by content: files by size and sha256, and the base model by the
//! hashes of its config, weights and tokenizer. A run or checkpoint that moved to another
//! folder or machine is recognised by these, not by its paths.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::TaskError;
use crate::files::{file_name, sha256_file};

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
            file: file_name(path),
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

/// The tokenizer file of a model directory (the one `BertTokenizer::from_dir` reads), by
/// content.
pub fn tokenizer_fingerprint(dir: &Path) -> Result<FileFingerprint, TaskError> {
    let path = ["tokenizer.json", "vocab.txt"]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| TaskError::checkpoint(dir, "holds no tokenizer: expected tokenizer.json or vocab.txt"))?;
    FileFingerprint::of(&path)
}
