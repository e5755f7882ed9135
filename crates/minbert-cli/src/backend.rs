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
            (kind, Some(index))
        }
        None => (name, None),
    };
    match (kind, index) {
        (kind, Some(_)) if kind != "cuda" => bail!("--device {name}: {kind} takes no device index; only cuda:N does"),
        ("auto", _) => auto_device(),
        #[cfg(feature = "flex")]
        ("flex" | "cpu", _) => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        ("ndarray", _) => Ok(Device::ndarray()),
        #[cfg(feature = "cuda")]
        ("cuda", index) => Ok(Device::cuda(index.unwrap_or(0))),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        ("libtorch", _) => Ok(Device::libtorch()),
        _ => bail!(
            "--device {name}: not available in this build (compiled in: {})",
            compiled_backends().join(", ")
        ),
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
    #[cfg(all(
        not(feature = "cuda"),
        not(feature = "tch"),
        not(feature = "flex"),
        feature = "ndarray"
    ))]
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

#[cfg(test)]
mod tests {
    use super::parse_device;

    #[test]
    fn only_cuda_takes_a_device_index() {
        for name in ["flex:9", "cpu:0", "auto:1", "libtorch:1"] {
            let err = parse_device(name).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("takes no device index"), "{err}");
        }
        let err = parse_device("cuda:x").unwrap_err().to_string();
        assert!(err.contains("expected an index"), "{err}");
        assert!(parse_device("flex").is_ok() && parse_device("auto").is_ok());
    }
}
