//! Where a base model comes from: a local directory, or a Hugging Face Hub id resolved through
//! the standard Hugging Face cache (the layout Python's `huggingface_hub` writes, so models a
//! user already has are found), downloading what is missing with the `hf-hub` crate.
//!
//! The environment is read as `huggingface_hub` reads it: `HF_HUB_CACHE`, `HF_HOME`,
//! `XDG_CACHE_HOME`, `HF_ENDPOINT`, `HF_TOKEN` (else the token file) and `HF_HUB_OFFLINE`.
//! [`given_model`]: a command's `--model`, else `MINBERT_MODEL`.

mod cache;
mod error;
mod given;
mod settings;

use std::path::{Path, PathBuf};

pub use cache::snapshot_dir;
pub use error::HubError;
pub use given::{MODEL_ENV, ModelOrigin, given_model, resolve_given};
pub use settings::HubSettings;

/// The model minbert uses when none is named.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The files a BERT checkpoint needs besides its tokenizer.
const MODEL_FILES: [&str; 2] = ["config.json", "model.safetensors"];
/// The tokenizer: the fast tokenizer, else the WordPiece vocabulary; a model needs one of them,
/// and both are fetched where the Hub has both, as `transformers` does.
const TOKENIZER_FILES: [&str; 2] = ["tokenizer.json", "vocab.txt"];

/// What a model name denotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A local checkpoint directory.
    Dir(PathBuf),
    /// A Hugging Face Hub model id, like `sentence-transformers/all-MiniLM-L6-v2`.
    Hub(String),
}

impl ModelSource {
    /// Reads `name` as `transformers` does: an existing directory (relative names are taken
    /// from `base`) is a local model, anything else of a Hub id's form is a Hub id.
    pub fn parse(name: &str, base: &Path) -> Result<Self, HubError> {
        let dir = base.join(name);
        if dir.is_dir() {
            Ok(Self::Dir(dir))
        } else if is_repo_id(name) {
            Ok(Self::Hub(name.to_string()))
        } else {
            Err(HubError::NotFound {
                name: name.to_string(),
                dir,
            })
        }
    }
}

/// A model found on disk: its directory and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The directory holding `config.json`, `model.safetensors` and the tokenizer.
    pub dir: PathBuf,
    pub source: ModelSource,
}

/// Finds the model `name` (a directory, relative names from `base`, or a Hub id): a Hub id is
/// taken from the cache when all its files are there, else downloaded into it.
pub fn resolve(name: &str, base: &Path, settings: &HubSettings) -> Result<ResolvedModel, HubError> {
    let source = ModelSource::parse(name, base)?;
    let dir = match &source {
        ModelSource::Dir(dir) => dir.clone(),
        ModelSource::Hub(id) => match cache::complete_snapshot(&settings.cache, id) {
            Some(dir) => dir,
            None if settings.offline => {
                return Err(HubError::Offline {
                    id: id.clone(),
                    cache: settings.cache.clone(),
                });
            }
            None => download(id, settings)?,
        },
    };
    Ok(ResolvedModel { dir, source })
}

/// Downloads the model files of `id` into the cache; returns their snapshot directory.
fn download(id: &str, settings: &HubSettings) -> Result<PathBuf, HubError> {
    let api = settings
        .api()
        .map_err(|e| settings.download_error(id, "its files", e))?;
    let repo = api.model(id.to_string());
    let mut paths = Vec::new();
    for file in MODEL_FILES {
        paths.push(repo.get(file).map_err(|e| settings.download_error(id, file, e))?);
    }
    let mut tokenizer_errors = Vec::new();
    for file in TOKENIZER_FILES {
        match repo.get(file) {
            Ok(path) => paths.push(path),
            Err(e) => tokenizer_errors.push(settings.download_error(id, file, e)),
        }
    }
    if tokenizer_errors.len() == TOKENIZER_FILES.len() {
        return Err(tokenizer_errors.remove(0));
    }
    let dir = paths[0]
        .parent()
        .expect("a cached file lies in a snapshot folder")
        .to_path_buf();
    // The files of one call come from one commit unless `main` moved in between.
    match paths.iter().find(|p| p.parent() != Some(dir.as_path())) {
        Some(stray) => Err(HubError::MixedSnapshots {
            id: id.to_string(),
            first: dir,
            other: stray.clone(),
        }),
        None => Ok(dir),
    }
}

/// The Hub's rule for repository ids: `name` or `namespace/name`, each of letters, digits,
/// `-`, `_` and `.`, not starting or ending with `-` or `.`, without `--` or `..`.
fn is_repo_id(name: &str) -> bool {
    let part_ok = |part: &str| {
        (1..=96).contains(&part.len())
            && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !part.starts_with(['-', '.'])
            && !part.ends_with(['-', '.'])
            && !part.contains("--")
            && !part.contains("..")
    };
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() <= 2 && parts.iter().all(|p| part_ok(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_follow_the_hub_rule() {
        for id in [DEFAULT_MODEL, "bert-base-uncased", "org/model.v2", "a_b/c-d"] {
            assert!(is_repo_id(id), "{id}");
        }
        for not_id in [
            "",
            "a/b/c",
            "./model",
            "../models/x",
            "/abs/path",
            "org/-x",
            "org/x.",
            "a--b/c",
            "a/b..c",
            "a b",
        ] {
            assert!(!is_repo_id(not_id), "{not_id}");
        }
    }

    #[test]
    fn an_existing_directory_wins_over_an_id() {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(base.path().join("org/model")).unwrap();
        assert_eq!(
            ModelSource::parse("org/model", base.path()).unwrap(),
            ModelSource::Dir(base.path().join("org/model"))
        );
        assert_eq!(
            ModelSource::parse("org/other", base.path()).unwrap(),
            ModelSource::Hub("org/other".into())
        );
        let err = ModelSource::parse("../models/missing", base.path()).unwrap_err();
        assert!(err.to_string().contains("../models/missing"), "{err}");
    }

    #[test]
    fn offline_with_an_empty_cache_names_the_id_the_cache_and_the_script() {
        let cache = tempfile::tempdir().unwrap();
        let settings = HubSettings {
            offline: true,
            ..HubSettings::with_cache(cache.path())
        };
        let err = resolve("org/model", cache.path(), &settings).unwrap_err().to_string();
        assert!(
            err.contains("org/model") && err.contains(&cache.path().display().to_string()),
            "{err}"
        );
        assert!(err.contains("scripts/fetch-model.sh") && !err.contains('\n'), "{err}");
    }
}
