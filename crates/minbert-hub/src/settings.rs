use std::path::{Path, PathBuf};

use hf_hub::Cache;
use hf_hub::api::sync::{Api, ApiBuilder, ApiError};

use crate::HubError;

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The cache, server and credentials used to resolve Hub ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// The hub cache folder (`models--org--name/{blobs,snapshots,refs}` inside).
    pub cache: PathBuf,
    pub endpoint: String,
    pub token: Option<String>,
    /// Never download: a model not in the cache is an error.
    pub offline: bool,
    /// Show a progress bar while downloading.
    pub progress: bool,
}

impl HubSettings {
    /// The settings `huggingface_hub` would use in this environment.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let cache = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home_dir().join(".cache"));
            cache.join("huggingface")
        });
        let cache = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let token_file = var("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("token"));
        let token = var("HF_TOKEN").or_else(|| read_token(&token_file));
        let offline = var("HF_HUB_OFFLINE")
            .is_some_and(|v| ["1", "on", "yes", "true"].contains(&v.to_ascii_lowercase().as_str()));
        Self {
            cache,
            endpoint: var("HF_ENDPOINT")
                .map_or_else(|| DEFAULT_ENDPOINT.to_string(), |e| e.trim_end_matches('/').to_string()),
            token,
            offline,
            progress: true,
        }
    }

    /// Defaults with the cache at `cache`: the public Hub, no token, online, no progress bar.
    pub fn with_cache(cache: &Path) -> Self {
        Self {
            cache: cache.to_path_buf(),
            endpoint: DEFAULT_ENDPOINT.into(),
            token: None,
            offline: false,
            progress: false,
        }
    }

    pub(crate) fn api(&self) -> Result<Api, ApiError> {
        ApiBuilder::from_cache(Cache::new(self.cache.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_token(self.token.clone())
            .with_progress(self.progress)
            .build()
    }

    pub(crate) fn download_error(&self, id: &str, file: &str, error: ApiError) -> HubError {
        HubError::Download {
            id: id.to_string(),
            file: file.to_string(),
            endpoint: self.endpoint.clone(),
            cache: self.cache.clone(),
            message: error.to_string(),
        }
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

fn read_token(path: &Path) -> Option<String> {
    let token = std::fs::read_to_string(path).ok()?;
    Some(token.trim().to_string()).filter(|t| !t.is_empty())
}
