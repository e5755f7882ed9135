//! Writing files so that a killed process leaves the old file or the new one, never half of
//! one, and the JSON files of checkpoints and runs.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::TaskError;

/// Writes `bytes` to `path` durably (its folder created if missing): after a crash the path
/// holds the old file or the new one, complete (see `durable_fs::write_file`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TaskError> {
    Ok(durable_fs::write_file(path, bytes)?)
}

/// `value` as pretty JSON with a final newline, written atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TaskError> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// A JSON file as `T`; the error names the file and what did not parse.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, TaskError> {
    let text = std::fs::read_to_string(path).map_err(|e| TaskError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TaskError::Json {
        path: path.to_path_buf(),
        message: format!("not a valid {}: {e}", file_name(path)),
    })
}

/// The sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, TaskError> {
    let mut file = std::fs::File::open(path).map_err(|e| TaskError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| TaskError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

pub use durable_fs::{file_name, parent_folder};
