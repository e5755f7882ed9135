//! Reading the hub cache as `huggingface_hub` lays it out:
//! `<cache>/models--<org>--<name>/refs/main` names a commit, whose files are in
//! `snapshots/<commit>/` (links into `blobs/`).

use std::path::{Path, PathBuf};

use crate::{MODEL_FILES, TOKENIZER_FILES};

/// The snapshot folder of `id`'s `main` branch in `cache`, if the cache has a `refs/main`.
pub fn snapshot_dir(cache: &Path, id: &str) -> Option<PathBuf> {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let commit = std::fs::read_to_string(repo.join("refs/main")).ok()?;
    Some(repo.join("snapshots").join(commit.trim()))
}

/// The snapshot folder of `id` if it holds every file minbert needs.
pub(crate) fn complete_snapshot(cache: &Path, id: &str) -> Option<PathBuf> {
    let dir = snapshot_dir(cache, id)?;
    let has = |file: &&str| dir.join(file).is_file();
    (MODEL_FILES.iter().all(has) && TOKENIZER_FILES.iter().any(has)).then_some(dir)
}
