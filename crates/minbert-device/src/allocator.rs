//! glibc's malloc settings for tensor work. By default glibc serves blocks above a threshold
//! that adapts between 128 KiB and 32 MiB with fresh `mmap`s and gives them back with `munmap`
//! when freed, and trims the heap top: every step of training then page-faults its activations
//! in again, and unmapping across threads costs TLB shoot-downs. With a fixed 32 MiB threshold
//! (every activation of the default workload is below it) and a 1 GiB trim threshold, freed
//! buffers are reused instead: `minbert bench --mode lora` ran 1.6x faster on flex for 1.5% more
//! peak memory (docs/BENCHMARKS.md, 2026-12-01).

/// glibc's largest `M_MMAP_THRESHOLD` on 64-bit targets.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1 << 30;

/// Applies the settings; call first thing in `main`, before other threads allocate (the
/// `minbert` binary and the examples do).
/// `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` or `GLIBC_TUNABLES` in the environment
/// leave the choice to glibc and the user.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_set = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if !user_set {
            // SAFETY: mallopt only sets allocator parameters; it is called before any thread starts.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            }
        }
    }
}
