//! What the workspace's tests share: the course data and the recorded Hugging Face / PEFT
//! fixtures committed in the repository, and the default model, from `MINBERT_MODEL` (a
//! directory or Hub id) or else the Hugging Face cache (filled by `scripts/fetch-model.sh`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use minbert_hub::{DEFAULT_MODEL, HubSettings};

/// The repository's root folder: two levels above the crate under test (every crate lives in
/// `crates/NAME`). Read when the tests run, not when this crate is compiled, so that a build
/// shared between two checkouts (one target folder) still finds this checkout's files.
pub fn repo_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let manifest =
            std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run under cargo, which sets CARGO_MANIFEST_DIR");
        let root = Path::new(&manifest).join("../..");
        root.canonicalize().unwrap_or(root)
    })
}

/// The course files, `data/` in the repository.
pub fn data_dir() -> PathBuf {
    repo_root().join("data")
}

/// The recorded transformers and PEFT outputs, `tests/fixtures/hf-parity`.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("tests/fixtures/hf-parity")
}

/// The default model's directory; panics with what to do when it cannot be found.
pub fn model_dir() -> PathBuf {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    let dir = MODEL.get_or_init(|| {
        let name = std::env::var("MINBERT_MODEL").ok().filter(|v| !v.is_empty());
        let name = name.as_deref().unwrap_or(DEFAULT_MODEL);
        match minbert_hub::resolve(name, repo_root(), &HubSettings::from_env()) {
            Ok(model) => model.dir,
            Err(e) => panic!("the tests need the model {name}: {e} (or set MINBERT_MODEL to its directory)"),
        }
    });
    dir.clone()
}

/// The device the GPU tests run on: wgpu's default adapter, a real GPU where the machine has
/// one, else a software driver such as lavapipe. `None`, after printing why, where no driver
/// can be opened at all; with `MINBERT_REQUIRE_GPU=1` (as in CI) that is a failure instead, so
/// that the GPU tests cannot pass by skipping.
pub fn gpu_device() -> Option<burn::tensor::Device> {
    static DEVICE: OnceLock<Result<burn::tensor::Device, String>> = OnceLock::new();
    let device = DEVICE.get_or_init(|| {
        burn::tensor::Device::wgpu_options()
            .init()
            .map_err(|err| err.to_string())
    });
    match device {
        Ok(device) => Some(device.clone()),
        Err(_) if std::env::var("MINBERT_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!(
                "MINBERT_REQUIRE_GPU=1, and no wgpu device opens: {device:?} (Debian: apt-get install mesa-vulkan-drivers libvulkan1)"
            )
        }
        Err(err) => {
            println!("skipped: no wgpu device (no Vulkan, Metal or DX12 driver): {err}");
            None
        }
    }
}
