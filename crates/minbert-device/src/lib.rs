//! The compute device, chosen by its `--device` name among the backends compiled in (cargo
//! features `flex`, `ndarray`, `wgpu`, `vulkan`, `metal`, `cuda`, `tch`), the thread pool
//! Burn's CPU backends compute on, and the allocator settings tensor work runs faster with.

mod allocator;
#[cfg(feature = "wgpu")]
pub mod gpu;

pub use allocator::keep_freed_memory;

use burn::tensor::Device;

/// The device kinds that take an index (`cuda:1`, `wgpu:0`).
const INDEXED: [&str; 4] = ["cuda", "wgpu", "vulkan", "metal"];

/// Why a device could not be opened or the compute threads set up. Messages name the flag
/// (`--device`, `--threads`) the value came from.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("--device {name}: expected an index after ':', like wgpu:0")]
    BadIndex { name: String },
    #[error("--device {name}: {kind} takes no device index; only {} do", INDEXED.join(", "))]
    NotIndexed { name: String, kind: String },
    #[error("--device {name}: not available in this build (compiled in: {})", compiled_backends().join(", "))]
    NotCompiled { name: String },
    #[error("--device {name}: no adapter {index} (found: {found})")]
    NoAdapter { name: String, index: usize, found: String },
    #[error(
        "--device {name}: no GPU found (adapters: {found}). Install the GPU's Vulkan driver, \
         name a software adapter by its index to test on it, or use --device flex"
    )]
    NoGpu { name: String, found: String },
    #[error("{adapter}: the {api} API is not supported")]
    UnsupportedApi { adapter: String, api: String },
    #[error("opening {adapter}: {message}")]
    Open { adapter: String, message: String },
    #[error("this minbert was built without a backend: enable the `flex`, `ndarray`, `wgpu`, `cuda` or `tch` feature")]
    NoBackend,
    #[error("--threads: too many threads")]
    TooManyThreads(#[source] std::num::TryFromIntError),
    #[error("setting up the compute thread pool")]
    ThreadPool(#[source] rayon::ThreadPoolBuildError),
}

/// An opened device, the `--device` name it was opened by, and a line saying what it is (for a
/// GPU: the adapter and its driver).
pub struct ComputeDevice {
    pub device: Device,
    /// The name given, such as `auto` or `wgpu:0`.
    pub name: String,
    pub description: String,
}

impl ComputeDevice {
    fn new(name: &str, device: Device, description: impl Into<String>) -> Self {
        Self {
            device,
            name: name.to_string(),
            description: description.into(),
        }
    }
}

/// Opens the device a `--device` name names: `auto`, `flex` (or `cpu`), `ndarray`, `libtorch`,
/// `wgpu[:N]`, `vulkan[:N]`, `metal[:N]` (N: the adapter's index in [`gpu::adapters`]) or
/// `cuda[:N]`.
pub fn open_device(name: &str) -> Result<ComputeDevice, DeviceError> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index: usize = index.parse().map_err(|_| DeviceError::BadIndex { name: name.into() })?;
            (kind, Some(index))
        }
        None => (name, None),
    };
    match (kind, index) {
        (kind, Some(_)) if !INDEXED.contains(&kind) => Err(DeviceError::NotIndexed {
            name: name.into(),
            kind: kind.into(),
        }),
        ("auto", _) => auto_device(name),
        #[cfg(feature = "flex")]
        ("flex" | "cpu", _) => Ok(ComputeDevice::new(name, Device::flex(), "flex (CPU)")),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        ("ndarray", _) => Ok(ComputeDevice::new(name, Device::ndarray(), "ndarray (CPU)")),
        #[cfg(feature = "wgpu")]
        ("wgpu", index) => open_wgpu(name, gpu::Api::Any, index),
        #[cfg(feature = "wgpu")]
        ("vulkan", index) => open_wgpu(name, gpu::Api::Vulkan, index),
        #[cfg(feature = "metal")]
        ("metal", index) => open_wgpu(name, gpu::Api::Metal, index),
        #[cfg(feature = "cuda")]
        ("cuda", index) => Ok(ComputeDevice::new(
            name,
            Device::cuda(index.unwrap_or(0)),
            format!("cuda:{}", index.unwrap_or(0)),
        )),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        ("libtorch", _) => Ok(ComputeDevice::new(name, Device::libtorch(), "libtorch (CPU)")),
        _ => Err(DeviceError::NotCompiled { name: name.into() }),
    }
}

/// The `index`-th adapter of `api`, or without one the best GPU. A software rasterizer is
/// only taken when named by its index: on such a machine the CPU backends are faster.
#[cfg(feature = "wgpu")]
fn open_wgpu(name: &str, api: gpu::Api, index: Option<usize>) -> Result<ComputeDevice, DeviceError> {
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
        Some(i) => adapters.get(i).ok_or_else(|| DeviceError::NoAdapter {
            name: name.into(),
            index: i,
            found: listed(),
        })?,
        None => gpu::best_hardware(&adapters).ok_or_else(|| DeviceError::NoGpu {
            name: name.into(),
            found: listed(),
        })?,
    };
    let description = format!("{name}: {}", adapter.describe());
    Ok(ComputeDevice::new(name, adapter.open()?, description))
}

/// A GPU when one is compiled in and found (never a software rasterizer), else libtorch when
/// compiled in, else flex, else ndarray.
#[allow(unreachable_code, unused_variables)]
fn auto_device(name: &str) -> Result<ComputeDevice, DeviceError> {
    #[cfg(feature = "cuda")]
    return Ok(ComputeDevice::new(name, Device::cuda(0), "cuda:0"));
    #[cfg(feature = "wgpu")]
    if let Some(adapter) = gpu::best_hardware(&gpu::adapters(gpu::Api::Any)) {
        let description = format!("wgpu: {}", adapter.describe());
        return Ok(ComputeDevice::new(name, adapter.open()?, description));
    }
    // Where it is compiled in, LibTorch is the faster CPU backend (docs/BACKENDS.md).
    #[cfg(feature = "tch")]
    #[allow(deprecated)]
    return Ok(ComputeDevice::new(name, Device::libtorch(), "libtorch (CPU)"));
    #[cfg(feature = "flex")]
    return Ok(ComputeDevice::new(name, Device::flex(), "flex (CPU)"));
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    return Ok(ComputeDevice::new(name, Device::ndarray(), "ndarray (CPU)"));
    Err(DeviceError::NoBackend)
}

/// The `--device` kinds of the backends this build has, in a fixed order.
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

/// What each wgpu adapter is ([`gpu::Adapter::describe`]), the N-th being `--device wgpu:N`;
/// `None` where this build has no wgpu.
pub fn wgpu_adapter_descriptions() -> Option<Vec<String>> {
    #[cfg(feature = "wgpu")]
    return Some(
        gpu::adapters(gpu::Api::Any)
            .iter()
            .map(gpu::Adapter::describe)
            .collect(),
    );
    #[cfg(not(feature = "wgpu"))]
    None
}

/// Sizes the global rayon pool that Burn's CPU backends compute on (and LibTorch's own pool);
/// call before any tensor op.
pub fn set_compute_threads(threads: usize) -> Result<(), DeviceError> {
    #[cfg(feature = "tch")]
    tch::set_num_threads(i32::try_from(threads).map_err(DeviceError::TooManyThreads)?);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(DeviceError::ThreadPool)
}

#[cfg(test)]
mod tests {
    use super::{DeviceError, compiled_backends, open_device};

    #[test]
    fn only_gpus_take_a_device_index() {
        for name in ["flex:9", "cpu:0", "auto:1", "libtorch:1"] {
            let err = open_device(name).err().unwrap().to_string();
            assert!(err.contains(name) && err.contains("takes no device index"), "{err}");
        }
        let err = open_device("wgpu:x").err().unwrap().to_string();
        assert_eq!(err, "--device wgpu:x: expected an index after ':', like wgpu:0");
        assert!(open_device("flex").is_ok() && open_device("auto").is_ok());
    }

    #[test]
    fn a_backend_not_compiled_in_is_named_with_those_that_are() {
        let err = open_device("tpu").err().unwrap();
        assert!(matches!(err, DeviceError::NotCompiled { .. }), "{err}");
        let expected = format!(
            "--device tpu: not available in this build (compiled in: {})",
            compiled_backends().join(", ")
        );
        assert_eq!(err.to_string(), expected);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_opens_under_both_names() {
        assert!(compiled_backends().contains(&"flex"));
        for name in ["flex", "cpu"] {
            let compute = open_device(name).unwrap();
            assert_eq!(
                (compute.name.as_str(), compute.description.as_str()),
                (name, "flex (CPU)")
            );
        }
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn a_missing_adapter_index_lists_what_there_is() {
        let err = open_device("wgpu:99").err().unwrap().to_string();
        assert!(err.contains("--device wgpu:99: no adapter 99 (found: "), "{err}");
    }
}
