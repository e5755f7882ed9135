//! The compute device, chosen by `--device` among the backends compiled in (cargo features
//! `flex`, `ndarray`, `wgpu`, `vulkan`, `metal`, `cuda`, `tch`).

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::Device;
use clap::Args;

#[cfg(feature = "wgpu")]
use crate::gpu;

#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Compute device: `flex` (CPU), `ndarray` (CPU), `libtorch` (CPU), `wgpu[:N]`, `vulkan[:N]`,
    /// `metal[:N]` (the N-th adapter `minbert info` lists; without N the best GPU), `cuda[:N]`;
    /// `auto` takes a GPU when one is compiled in and found (never a software rasterizer), else
    /// libtorch when compiled in, else flex.
    #[arg(long, env = "MINBERT_DEVICE", default_value = "auto")]
    pub device: String,
}

impl DeviceArgs {
    pub fn device(&self) -> Result<Device> {
        Ok(open_device(&self.device)?.device)
    }

    /// The device and what it is, for the commands that report it.
    pub fn open(&self) -> Result<ComputeDevice> {
        open_device(&self.device)
    }
}

/// An opened device and a line saying what it is (for a GPU: the adapter and its driver).
pub struct ComputeDevice {
    pub device: Device,
    pub description: String,
}

impl ComputeDevice {
    fn new(device: Device, description: impl Into<String>) -> Self {
        Self {
            device,
            description: description.into(),
        }
    }
}

/// The device kinds that take an index (`cuda:1`, `wgpu:0`).
const INDEXED: [&str; 4] = ["cuda", "wgpu", "vulkan", "metal"];

pub fn open_device(name: &str) -> Result<ComputeDevice> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index: usize = index
                .parse()
                .map_err(|_| anyhow!("--device {name}: expected an index after ':', like wgpu:0"))?;
            (kind, Some(index))
        }
        None => (name, None),
    };
    match (kind, index) {
        (kind, Some(_)) if !INDEXED.contains(&kind) => {
            bail!(
                "--device {name}: {kind} takes no device index; only {} do",
                INDEXED.join(", ")
            )
        }
        ("auto", _) => auto_device(),
        #[cfg(feature = "flex")]
        ("flex" | "cpu", _) => Ok(ComputeDevice::new(Device::flex(), "flex (CPU)")),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        ("ndarray", _) => Ok(ComputeDevice::new(Device::ndarray(), "ndarray (CPU)")),
        #[cfg(feature = "wgpu")]
        ("wgpu", index) => open_wgpu(name, gpu::Api::Any, index),
        #[cfg(feature = "wgpu")]
        ("vulkan", index) => open_wgpu(name, gpu::Api::Vulkan, index),
        #[cfg(feature = "metal")]
        ("metal", index) => open_wgpu(name, gpu::Api::Metal, index),
        #[cfg(feature = "cuda")]
        ("cuda", index) => Ok(ComputeDevice::new(
            Device::cuda(index.unwrap_or(0)),
            format!("cuda:{}", index.unwrap_or(0)),
        )),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        ("libtorch", _) => Ok(ComputeDevice::new(Device::libtorch(), "libtorch (CPU)")),
        _ => bail!(
            "--device {name}: not available in this build (compiled in: {})",
            compiled_backends().join(", ")
        ),
    }
}

/// The `index`-th adapter of `api`, or without one the best GPU. A software rasterizer is
/// only taken when named by its index: on such a machine the CPU backends are faster.
#[cfg(feature = "wgpu")]
fn open_wgpu(name: &str, api: gpu::Api, index: Option<usize>) -> Result<ComputeDevice> {
    let adapters = gpu::adapters(api);
    let listed = || {
        let names: Vec<_> = adapters
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{i}: {}", a.info.name))
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join("; ")
        }
    };
    let adapter = match index {
        Some(i) => adapters
            .get(i)
            .ok_or_else(|| anyhow!("--device {name}: no adapter {i} (found: {})", listed()))?,
        None => gpu::best_hardware(&adapters).ok_or_else(|| {
            anyhow!(
                "--device {name}: no GPU found (adapters: {}). Install the GPU's Vulkan driver, \
                 name a software adapter by its index to test on it, or use --device flex",
                listed()
            )
        })?,
    };
    let description = format!("{name}: {}", adapter.describe());
    Ok(ComputeDevice::new(adapter.open()?, description))
}

#[allow(unreachable_code)]
fn auto_device() -> Result<ComputeDevice> {
    #[cfg(feature = "cuda")]
    return Ok(ComputeDevice::new(Device::cuda(0), "cuda:0"));
    #[cfg(feature = "wgpu")]
    if let Some(adapter) = gpu::best_hardware(&gpu::adapters(gpu::Api::Any)) {
        let description = format!("wgpu: {}", adapter.describe());
        return Ok(ComputeDevice::new(adapter.open()?, description));
    }
    // Where it is compiled in, LibTorch is the faster CPU backend (docs/BACKENDS.md).
    #[cfg(feature = "tch")]
    #[allow(deprecated)]
    return Ok(ComputeDevice::new(Device::libtorch(), "libtorch (CPU)"));
    #[cfg(feature = "flex")]
    return Ok(ComputeDevice::new(Device::flex(), "flex (CPU)"));
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    return Ok(ComputeDevice::new(Device::ndarray(), "ndarray (CPU)"));
    bail!("this minbert was built without a backend: enable the `flex`, `ndarray`, `wgpu`, `cuda` or `tch` feature")
}

pub fn compiled_backends() -> Vec<&'static str> {
    let features = [
        (cfg!(feature = "flex"), "flex"),
        (cfg!(feature = "ndarray"), "ndarray"),
        (cfg!(feature = "wgpu"), "wgpu"),
        (cfg!(feature = "vulkan"), "vulkan"),
        (cfg!(feature = "metal"), "metal"),
        (cfg!(feature = "cuda"), "cuda"),
        (cfg!(feature = "tch"), "libtorch"),
    ];
    features
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name)
        .collect()
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
    use super::open_device;

    #[test]
    fn only_gpus_take_a_device_index() {
        for name in ["flex:9", "cpu:0", "auto:1", "libtorch:1"] {
            let err = open_device(name).err().unwrap().to_string();
            assert!(err.contains(name) && err.contains("takes no device index"), "{err}");
        }
        let err = open_device("wgpu:x").err().unwrap().to_string();
        assert!(err.contains("expected an index"), "{err}");
        assert!(open_device("flex").is_ok() && open_device("auto").is_ok());
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn a_missing_adapter_index_lists_what_there_is() {
        let err = open_device("wgpu:99").err().unwrap().to_string();
        assert!(err.contains("--device wgpu:99: no adapter 99 (found: "), "{err}");
    }
}
