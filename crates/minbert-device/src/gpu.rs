//! The machine's wgpu adapters (Vulkan, Metal, DX12): listed in a fixed order so that
//! `--device wgpu:N` names the same adapter that `minbert info` printed as `wgpu:N`, and opened
//! as Burn devices pinned to the adapter's graphics API.

use burn::tensor::wgpu::{WgpuBackend, wgpu};
use burn::tensor::{Device, DeviceKind};

use crate::DeviceError;

/// Which graphics APIs a `--device` name may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `wgpu`: every primary API this build has (Vulkan, Metal, DX12).
    Any,
    /// `vulkan`
    Vulkan,
    /// `metal`
    #[cfg(feature = "metal")]
    Metal,
}

impl Api {
    fn backends(self) -> Vec<wgpu::Backend> {
        match self {
            Api::Any => vec![wgpu::Backend::Vulkan, wgpu::Backend::Metal, wgpu::Backend::Dx12],
            Api::Vulkan => vec![wgpu::Backend::Vulkan],
            #[cfg(feature = "metal")]
            Api::Metal => vec![wgpu::Backend::Metal],
        }
    }
}

/// One adapter, with what it takes to open it again.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// What the driver reports: name, type, API, driver.
    pub info: wgpu::AdapterInfo,
    /// The runtime's selector: its kind and index among adapters of that kind on its API.
    kind: DeviceKind,
}

impl Adapter {
    /// A software rasterizer (lavapipe, llvmpipe, WARP): correct, and slower than the CPU backend.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// `llvmpipe (LLVM 15.0.6, 256 bits), Vulkan, software, driver llvmpipe (Mesa 22.3.6)`
    pub fn describe(&self) -> String {
        let info = &self.info;
        let kind = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete GPU",
            wgpu::DeviceType::IntegratedGpu => "integrated GPU",
            wgpu::DeviceType::VirtualGpu => "virtual GPU",
            wgpu::DeviceType::Cpu => "software",
            wgpu::DeviceType::Other => "unclassified",
        };
        format!(
            "{}, {}, {kind}, driver {} ({})",
            info.name, info.backend, info.driver, info.driver_info
        )
    }

    /// Opens the adapter as a Burn device, on its own graphics API.
    pub fn open(&self) -> Result<Device, DeviceError> {
        let api = match self.info.backend {
            wgpu::Backend::Vulkan => WgpuBackend::Vulkan,
            wgpu::Backend::Metal => WgpuBackend::Metal,
            wgpu::Backend::Dx12 => WgpuBackend::Dx12,
            other => {
                return Err(DeviceError::UnsupportedApi {
                    adapter: self.info.name.clone(),
                    api: other.to_string(),
                });
            }
        };
        Device::wgpu_options()
            .device_kind(self.kind.clone())
            .graphics_api(api)
            .init()
            .map_err(|err| DeviceError::Open {
                adapter: self.describe(),
                message: err.to_string(),
            })
    }
}

/// The adapters the APIs of `api` reach, API by API in the order of [`Api::backends`], each
/// API's in the driver's order. Empty where no driver is installed.
pub fn adapters(api: Api) -> Vec<Adapter> {
    let mut found = vec![];
    for backend in api.backends() {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: backend.into(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let infos: Vec<_> = futures_lite::future::block_on(instance.enumerate_adapters(backend.into()))
            .iter()
            .map(wgpu::Adapter::get_info)
            .collect();
        for (i, info) in infos.iter().enumerate() {
            // The runtime finds an adapter as the n-th of its type on its API.
            let nth = infos[..i].iter().filter(|o| o.device_type == info.device_type).count();
            let kind = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu(nth),
                wgpu::DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu(nth),
                wgpu::DeviceType::VirtualGpu => DeviceKind::VirtualGpu(nth),
                wgpu::DeviceType::Cpu => DeviceKind::Cpu,
                // Burn has no selector for an unclassified adapter (OpenGL's usual answer).
                wgpu::DeviceType::Other => continue,
            };
            found.push(Adapter {
                info: info.clone(),
                kind,
            });
        }
    }
    found
}

/// The best hardware adapter: a discrete GPU before an integrated one before the rest.
pub fn best_hardware(adapters: &[Adapter]) -> Option<&Adapter> {
    let rank = |a: &&Adapter| match a.info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        _ => 2,
    };
    adapters.iter().filter(|a| !a.is_software()).min_by_key(rank)
}
