//! The compute device, chosen by `--device` among the backends compiled in (cargo features
//! `flex`, `ndarray`, `cuda`, `tch`).

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Compute device: `flex` (CPU), `ndarray` (CPU), `libtorch` (CPU), `cuda` or `cuda:N`;
    /// `auto` takes a GPU when one is compiled in, else libtorch when compiled in, else flex.
    #[arg(long, env = "MINBERT_DEVICE", default_value = "auto")]
    pub device: String,
}

impl DeviceArgs {
    pub fn device(&self) -> Result<Device> {
        parse_device(&self.device)
    }
}

pub fn parse_device(name: &str) -> Result<Device> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index: usize = index
                .parse()
                .map_err(|_| anyhow::anyhow!("--device {name}: expected an index after ':', like cuda:0"))?;
            (kind, index)
        }
        None => (name, 0),
    };
    match kind {
        "auto" => auto_device(),
        #[cfg(feature = "flex")]
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(index)),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        "libtorch" => Ok(Device::libtorch()),
        _ => {
            let _ = index;
            bail!("--device {name}: not available in this build (compiled in: {})", compiled_backends().join(", "))
        }
    }
}

fn auto_device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    return Ok(Device::cuda(0));
    // Where it is compiled in, LibTorch is the faster CPU backend (docs/BACKENDS.md).
    #[cfg(all(not(feature = "cuda"), feature = "tch"))]
    #[allow(deprecated)]
    return Ok(Device::libtorch());
    #[cfg(all(not(feature = "cuda"), not(feature = "tch"), feature = "flex"))]
    return Ok(Device::flex());
    #[cfg(all(not(feature = "cuda"), not(feature = "tch"), not(feature = "flex"), feature = "ndarray"))]
    #[allow(deprecated)]
    return Ok(Device::ndarray());
    #[allow(unreachable_code)]
    {
        bail!("this minbert was built without a backend: enable the `flex`, `ndarray`, `cuda` or `tch` feature")
    }
}

pub fn compiled_backends() -> Vec<&'static str> {
    let mut names = vec![];
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    if cfg!(feature = "tch") {
        names.push("libtorch");
    }
    names
}

/// Sizes the global rayon pool that Burn's CPU backends compute on (and LibTorch's own pool);
/// call before any tensor op.
pub fn set_compute_threads(threads: usize) -> Result<()> {
    #[cfg(feature = "tch")]
    tch::set_num_threads(i32::try_from(threads).context("--threads: too many threads")?);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("setting up the compute thread pool")
}
