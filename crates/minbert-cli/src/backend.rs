//! `--device`: the compute device, opened by `minbert_device` among the backends compiled in.

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;

pub use minbert_device::{ComputeDevice, compiled_backends, set_compute_threads, wgpu_adapter_descriptions};

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
        Ok(self.open()?.device)
    }

    /// The device and what it is, for the commands that report it.
    pub fn open(&self) -> Result<ComputeDevice> {
        Ok(minbert_device::open_device(&self.device)?)
    }
}
