//! Output folders that are never clobbered (issue 30): an existing non-empty folder is
//! refused unless `--overwrite` is given, and is then replaced whole through
//! `durable_fs::replace_dir`, so that no file of the old contents survives beside the new ones
//! (a mixture of two checkpoints' files) and a crash leaves the old folder as it was.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args, Debug, Clone, Copy)]
pub struct OverwriteArg {
    /// Replace an existing non-empty output folder whole (none of its files are kept).
    #[arg(long)]
    pub overwrite: bool,
}

/// An output folder given by `flag` (`--out-dir`, `--out`, `--merged`, ...).
pub struct OutDir<'a> {
    flag: &'static str,
    path: &'a Path,
    overwrite: bool,
}

impl<'a> OutDir<'a> {
    pub fn new(flag: &'static str, path: &'a Path, overwrite: OverwriteArg) -> Self {
        Self {
            flag,
            path,
            overwrite: overwrite.overwrite,
        }
    }

    /// Refuses the folder before any work is done: a file, a folder that is or holds one of
    /// `inputs` (`(what it is, path)`: replacing it would delete the input), or a non-empty folder
    /// without `--overwrite`. Creates its parent, so that an unwritable place fails now too.
    pub fn check(&self, inputs: &[(&str, &Path)]) -> Result<()> {
        let (flag, out) = (self.flag, self.path.display());
        match std::fs::metadata(self.path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = durable_fs::parent_folder(self.path);
                std::fs::create_dir_all(parent).with_context(|| format!("{flag} {out}: cannot create its folder"))?;
                return Ok(());
            }
            // A parent that is a file, say: the path can never be a folder.
            Err(e) => return Err(e).with_context(|| format!("{flag} {out}: choose another {flag}")),
        }
        if !self.path.is_dir() {
            bail!("{flag} {out} is a file, not a folder; choose another {flag}");
        }
        for (what, input) in inputs {
            if holds(self.path, input) {
                bail!(
                    "{flag} {out} is {what} {} or holds it: writing there would delete it; choose another {flag}",
                    input.display()
                );
            }
        }
        let mut entries = std::fs::read_dir(self.path).with_context(|| format!("{flag} {out}: cannot list it"))?;
        if entries.next().is_some() && !self.overwrite {
            bail!(
                "{flag} {out} exists and is not empty; pass --overwrite to replace it whole, or choose another {flag}"
            );
        }
        Ok(())
    }

    /// Checks the folder again (it may have filled while the command worked), then replaces
    /// it with what `fill` writes into an empty temporary folder beside it.
    pub fn replace(&self, inputs: &[(&str, &Path)], fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        self.check(inputs)?;
        durable_fs::replace_dir(self.path, fill)
            .with_context(|| format!("{} {}: writing it", self.flag, self.path.display()))
    }
}

/// Whether `input` is the folder `out` or lies inside it (by canonical paths).
fn holds(out: &Path, input: &Path) -> bool {
    match (out.canonicalize(), input.canonicalize()) {
        (Ok(out), Ok(input)) => input.starts_with(out),
        _ => false,
    }
}
