//! Which model a command was told to use: its flag, else the `MINBERT_MODEL` environment
//! variable, else [`DEFAULT_MODEL`](crate::DEFAULT_MODEL).

use std::path::Path;

use crate::{DEFAULT_MODEL, HubError, HubSettings, ResolvedModel};

/// The environment variable that names a model where the flag does not.
pub const MODEL_ENV: &str = "MINBERT_MODEL";

/// Where the model a command uses was named, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelOrigin {
    /// The `--model` flag.
    Flag,
    /// [`MODEL_ENV`].
    Env,
}

impl ModelOrigin {
    /// `--model` or `MINBERT_MODEL`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flag => "--model",
            Self::Env => MODEL_ENV,
        }
    }
}

/// The model named by `flag` (the value of `--model`), else by a non-empty `MINBERT_MODEL`,
/// with where it was named.
pub fn given_model(flag: Option<&str>) -> Option<(String, ModelOrigin)> {
    if let Some(name) = flag {
        return Some((name.to_string(), ModelOrigin::Flag));
    }
    std::env::var(MODEL_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| (v, ModelOrigin::Env))
}

/// The model [`given_model`] names, else the default one, resolved from the current directory
/// through the Hugging Face cache of the environment.
pub fn resolve_given(flag: Option<&str>) -> Result<ResolvedModel, HubError> {
    let name = given_model(flag).map_or(DEFAULT_MODEL.to_string(), |(name, _)| name);
    crate::resolve(&name, Path::new("."), &HubSettings::from_env())
}
