//! Crash-consistent writes. A file ([`write_file`]) or a whole folder ([`replace_dir`]) is
//! replaced so that after a kill or a power loss its path holds the old version or the new
//! one, complete, never a mixture or an empty file:
//!
//! 1. the new version is written under a unique temporary name beside the target;
//! 2. every file of it and its folder are fsynced;
//! 3. it is renamed into place and the parent folder is fsynced (the rename is on disk);
//! 4. only then is the old version deleted.
//!
//! A folder swap takes two renames (the old folder aside to `.{name}.old`, the new one into
//! place); [`recover_dir`] finishes or undoes a swap that a crash interrupted. Writers of one
//! folder must be serialised by the caller (a lock); readers see one version or the other.
//!
//! With the `failpoints` feature, each step is a [`fail`] point named `durable_fs::...`, so
//! tests can abort the process at any of them.
//!
//! [`OutputDir`] is the policy for a command's output folder: new or empty, or replaced whole.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod output_dir;

pub use output_dir::{OutputDir, OutputDirError};

/// An I/O error with the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct Error {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Error {
    fn at(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The fail points, in the order a write and a swap pass them.
pub mod points {
    /// Before each `sync_all` of a file (tests count syncs here).
    pub const SYNC_FILE: &str = "durable_fs::sync_file";
    /// Before each fsync of a folder.
    pub const SYNC_DIR: &str = "durable_fs::sync_dir";
    /// [`write_file`](super::write_file): the temporary file is written and synced.
    pub const FILE_BEFORE_RENAME: &str = "durable_fs::file_before_rename";
    /// [`write_file`](super::write_file): renamed into place, parent not yet synced.
    pub const FILE_AFTER_RENAME: &str = "durable_fs::file_after_rename";
    /// [`replace_dir`](super::replace_dir): the new folder is complete and synced.
    pub const DIR_FILLED: &str = "durable_fs::dir_filled";
    /// The old folder is renamed to `.{name}.old`; the new one is not in place.
    pub const DIR_OLD_ASIDE: &str = "durable_fs::dir_old_aside";
    /// The new folder is in place; `.{name}.old` not yet removed.
    pub const DIR_NEW_IN_PLACE: &str = "durable_fs::dir_new_in_place";
    /// [`read_consistent`](super::read_consistent): a read has run, its marker is not yet read
    /// again (tests replace the folder here).
    pub const DIR_READ: &str = "durable_fs::dir_read";
    /// Every point of a write and a swap, for tests that visit each.
    pub const ALL: [&str; 7] = [
        SYNC_FILE,
        SYNC_DIR,
        FILE_BEFORE_RENAME,
        FILE_AFTER_RENAME,
        DIR_FILLED,
        DIR_OLD_ASIDE,
        DIR_NEW_IN_PLACE,
    ];
}

/// The folder a path lies in (`.` for a bare name).
pub fn parent_folder(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The last component of `path`, for messages and temporary names (empty for `..` or `/`).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Fsyncs a file's data and metadata.
pub fn sync_file(file: &File, path: &Path) -> Result<(), Error> {
    fail::fail_point!(points::SYNC_FILE);
    file.sync_all().map_err(Error::at(path))
}

/// Fsyncs a folder, so that the names created, renamed or removed in it are on disk.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    fail::fail_point!(points::SYNC_DIR);
    // Windows cannot open a folder as a file; its renames are journaled by NTFS.
    if cfg!(windows) {
        return Ok(());
    }
    File::open(dir).and_then(|f| f.sync_all()).map_err(Error::at(dir))
}

/// Writes `bytes` to `path` durably: a unique temporary file beside it (its folder created if
/// missing), fsynced, renamed into place, then the folder fsynced.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = parent_folder(path);
    std::fs::create_dir_all(dir).map_err(Error::at(dir))?;
    let mut file = tempfile::Builder::new()
        .prefix(&tmp_prefix(path))
        .tempfile_in(dir)
        .map_err(Error::at(dir))?;
    file.write_all(bytes).map_err(Error::at(file.path()))?;
    sync_file(file.as_file(), file.path())?;
    fail::fail_point!(points::FILE_BEFORE_RENAME);
    file.persist(path).map_err(|e| Error::at(path)(e.error))?;
    fail::fail_point!(points::FILE_AFTER_RENAME);
    sync_dir(dir)
}

/// `.{name}.old`: where [`replace_dir`] moves the old version during a swap.
pub fn old_path(dir: &Path) -> PathBuf {
    parent_folder(dir).join(format!(".{}.old", file_name(dir)))
}

/// How the temporaries of writes of `path` begin (`.{name}.tmp-`).
fn tmp_prefix(path: &Path) -> String {
    format!(".{}.tmp-", file_name(path))
}

/// Replaces the folder `dir` (or creates it) with one that `fill` writes into the empty
/// folder it is given. `dir` then holds the old version or the new one, whatever happens.
/// When `fill` fails its partial folder is removed and its error returned.
pub fn replace_dir<E: From<Error>>(dir: &Path, fill: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    let parent = parent_folder(dir);
    std::fs::create_dir_all(parent).map_err(Error::at(parent))?;
    finish_swap(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(&tmp_prefix(dir))
        .tempdir_in(parent)
        .map_err(Error::at(parent))?;
    // Dropped on any early return, the temporary folder is removed.
    fill(tmp.path())?;
    sync_tree(tmp.path())?;
    fail::fail_point!(points::DIR_FILLED);
    let old = old_path(dir);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(Error::at(dir))?;
        sync_dir(parent)?;
    }
    fail::fail_point!(points::DIR_OLD_ASIDE);
    let tmp = tmp.keep();
    std::fs::rename(&tmp, dir).map_err(Error::at(dir))?;
    sync_dir(parent)?;
    fail::fail_point!(points::DIR_NEW_IN_PLACE);
    Ok(remove_old(&old, parent)?)
}

fn remove_old(old: &Path, parent: &Path) -> Result<(), Error> {
    if old.exists() {
        std::fs::remove_dir_all(old).map_err(Error::at(old))?;
        sync_dir(parent)?;
    }
    Ok(())
}

/// Fsyncs every file and folder under `dir`, `dir` last.
fn sync_tree(dir: &Path) -> Result<(), Error> {
    for entry in std::fs::read_dir(dir).map_err(Error::at(dir))? {
        let path = entry.map_err(Error::at(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            let file = File::open(&path).map_err(Error::at(&path))?;
            sync_file(&file, &path)?;
        }
    }
    sync_dir(dir)
}

/// Finishes a swap of `dir` that stopped between its steps: with both `dir` and `.{name}.old`
/// there, the new version was in place and the old one is removed; with only `.{name}.old`,
/// the old version is put back.
fn finish_swap(dir: &Path) -> Result<(), Error> {
    let (old, parent) = (old_path(dir), parent_folder(dir));
    if !old.exists() {
        return Ok(());
    }
    if dir.exists() {
        return remove_old(&old, parent);
    }
    std::fs::rename(&old, dir).map_err(Error::at(dir))?;
    sync_dir(parent)
}

/// A folder that was replaced during every one of [`READ_ATTEMPTS`] reads.
#[derive(Debug, thiserror::Error)]
#[error("{}: was replaced {READ_ATTEMPTS} times while being read (a run is saving it): try again", dir.display())]
pub struct KeptReplaced {
    pub dir: PathBuf,
}

/// How often [`read_consistent`] reads a folder that keeps being replaced before it gives up.
pub const READ_ATTEMPTS: usize = 5;

/// Runs `read` on the folder `dir` so that what it read comes from one version of `dir`, while
/// its writer may [`replace_dir`] it: `read` runs between two reads of `dir/marker` (a file that
/// differs in every version), and runs again, after a growing pause, while those two differ or
/// a swap is under way. Its own result is returned as it is (an error where `dir` is missing).
pub fn read_consistent<T, E: From<KeptReplaced>>(
    dir: &Path,
    marker: &str,
    mut read: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let marker = dir.join(marker);
    for attempt in 1..=READ_ATTEMPTS {
        let before = std::fs::read(&marker).ok();
        let result = read();
        fail::fail_point!(points::DIR_READ);
        let after = std::fs::read(&marker).ok();
        if before == after && !old_path(dir).exists() {
            return result;
        }
        if attempt < READ_ATTEMPTS {
            std::thread::sleep(Duration::from_millis(200 * attempt as u64));
        }
    }
    Err(KeptReplaced { dir: dir.to_path_buf() }.into())
}

/// What [`recover_dir`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// An interrupted swap was finished or undone.
    pub swap: bool,
    /// Temporary folders and files of writes that never finished, removed.
    pub removed: Vec<PathBuf>,
}

/// Makes `dir` whole after a crash: finishes or undoes an interrupted [`replace_dir`] and
/// removes the temporaries that unfinished writes of `dir` left beside it. Only the folder's
/// one writer may call this (a temporary of a live writer would be removed).
pub fn recover_dir(dir: &Path) -> Result<Recovered, Error> {
    let parent = parent_folder(dir);
    let swap = old_path(dir).exists();
    finish_swap(dir)?;
    let prefix = tmp_prefix(dir);
    let removed = remove_entries(parent, |name, _| name.starts_with(&prefix))?;
    if swap || !removed.is_empty() {
        sync_dir(parent)?;
    }
    Ok(Recovered { swap, removed })
}

/// Removes the temporary files that unfinished [`write_file`]s of the files in `dir` left
/// there (`.{name}.tmp-*`); the writer of `dir` calls it at start. Returns what it removed.
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    remove_entries(dir, |name, path| {
        name.starts_with('.') && name.contains(".tmp-") && path.is_file()
    })
}

/// Removes the files and folders in `dir` whose name and path `remove` accepts (none where
/// `dir` is missing); returns them.
fn remove_entries(dir: &Path, remove: impl Fn(&str, &Path) -> bool) -> Result<Vec<PathBuf>, Error> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(removed);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !remove(&entry.file_name().to_string_lossy(), &path) {
            continue;
        }
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(Error::at(&path))?;
        removed.push(path);
    }
    Ok(removed)
}
