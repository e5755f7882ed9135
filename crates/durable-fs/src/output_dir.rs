//! Output folders that are never clobbered: a new or empty folder, or, where the caller allows
//! overwriting, one replaced whole through [`replace_dir`](crate::replace_dir), so that no file
//! of the old contents survives beside the new ones and a crash leaves the old folder as it was.

use std::path::{Path, PathBuf};

/// Why an output folder was refused; each message names the flag that gave it and the folder.
#[derive(Debug, thiserror::Error)]
pub enum OutputDirError {
    /// Its parent could not be created.
    #[error("{flag} {}: cannot create its folder: {source}", path.display())]
    CannotCreate {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// It cannot be looked at (a parent that is a file, say): it can never be a folder.
    #[error("{flag} {}: choose another {flag}: {source}", path.display())]
    Unusable {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file, not a folder.
    #[error("{flag} {} is a file, not a folder; choose another {flag}", path.display())]
    File { flag: &'static str, path: PathBuf },
    /// It is, or holds, one of the command's inputs.
    #[error(
        "{flag} {} is {what} {} or holds it: writing there would delete it; choose another {flag}",
        path.display(),
        input.display()
    )]
    HoldsInput {
        flag: &'static str,
        path: PathBuf,
        what: String,
        input: PathBuf,
    },
    /// Its entries cannot be listed.
    #[error("{flag} {}: cannot list it: {source}", path.display())]
    CannotList {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// It has entries, and overwriting was not allowed.
    #[error(
        "{flag} {} exists and is not empty; pass --overwrite to replace it whole, or choose another {flag}",
        path.display()
    )]
    NotEmpty { flag: &'static str, path: PathBuf },
}

/// An output folder given by `flag` (`--out-dir`, `--out`, `--merged`, ...).
#[derive(Debug, Clone, Copy)]
pub struct OutputDir<'a> {
    /// The flag that named it, for messages.
    pub flag: &'static str,
    /// The folder.
    pub path: &'a Path,
    /// Whether a non-empty folder may be replaced whole (`--overwrite`).
    pub overwrite: bool,
}

impl OutputDir<'_> {
    /// Refuses the folder before any work is done: a file, a folder that is or holds one of
    /// `inputs` (`(what it is, path)`: replacing it would delete the input), or a non-empty
    /// folder without `overwrite`. Creates its parent, so that an unwritable place fails now too.
    pub fn check(&self, inputs: &[(&str, &Path)]) -> Result<(), OutputDirError> {
        let (flag, path) = (self.flag, self.path.to_path_buf());
        match std::fs::metadata(self.path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return std::fs::create_dir_all(crate::parent_folder(self.path))
                    .map_err(|source| OutputDirError::CannotCreate { flag, path, source });
            }
            Err(source) => return Err(OutputDirError::Unusable { flag, path, source }),
        }
        if !self.path.is_dir() {
            return Err(OutputDirError::File { flag, path });
        }
        if let Some((what, input)) = inputs.iter().find(|(_, input)| holds(self.path, input)) {
            let (what, input) = (what.to_string(), input.to_path_buf());
            return Err(OutputDirError::HoldsInput {
                flag,
                path,
                what,
                input,
            });
        }
        let mut entries = std::fs::read_dir(self.path).map_err(|source| OutputDirError::CannotList {
            flag,
            path: path.clone(),
            source,
        })?;
        if entries.next().is_some() && !self.overwrite {
            return Err(OutputDirError::NotEmpty { flag, path });
        }
        Ok(())
    }
}

/// Whether `input` is the folder `out` or lies inside it (by canonical paths).
fn holds(out: &Path, input: &Path) -> bool {
    match (out.canonicalize(), input.canonicalize()) {
        (Ok(out), Ok(input)) => input.starts_with(out),
        _ => false,
    }
}
