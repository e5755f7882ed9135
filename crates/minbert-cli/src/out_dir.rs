//! `--overwrite` and the output folders of commands: durable-fs's [`OutputDir`] policy (a new
//! or empty folder, or with `--overwrite` one replaced whole; never one of the inputs).

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use durable_fs::OutputDir;

#[derive(Args, Debug, Clone, Copy)]
pub struct OverwriteArg {
    /// Replace an existing non-empty output folder whole (none of its files are kept).
    #[arg(long)]
    pub overwrite: bool,
}

/// An output folder given by `flag` (`--out-dir`, `--out`, `--merged`, ...).
pub struct OutDir<'a>(OutputDir<'a>);

impl<'a> OutDir<'a> {
    pub fn new(flag: &'static str, path: &'a Path, overwrite: OverwriteArg) -> Self {
        let overwrite = overwrite.overwrite;
        Self(OutputDir { flag, path, overwrite })
    }

    /// Refuses the folder before any work is done (see [`OutputDir::check`]).
    pub fn check(&self, inputs: &[(&str, &Path)]) -> Result<()> {
        Ok(self.0.check(inputs)?)
    }

    /// Checks the folder again (it may have filled while the command worked), then replaces
    /// it with what `fill` writes into an empty temporary folder beside it.
    pub fn replace(&self, inputs: &[(&str, &Path)], fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        self.check(inputs)?;
        let OutputDir { flag, path, .. } = self.0;
        durable_fs::replace_dir(path, fill).with_context(|| format!("{flag} {}: writing it", path.display()))
    }
}
