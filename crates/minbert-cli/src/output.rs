//! Where result files go. They are written with `minbert_task::files`, atomically, so an
//! interrupted command never leaves a half-written file behind.

use std::path::Path;

/// The folder a file path lies in (`.` for a bare file name).
pub fn parent_folder(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}
