//! A process aborted at every fail point of a write and of a folder swap, at every time the
//! point is reached: afterwards (and after `recover_dir`) the target holds the old version or
//! the new one, byte for byte, and nothing else is left beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use durable_fs::{points, recover_dir, replace_dir, write_file};

/// The fail-point registry is global: one test at a time uses it.
static SERIAL: Mutex<()> = Mutex::new(());

const CHILD: &str = "DURABLE_FS_CRASH_CHILD";

/// Every file under `dir` by relative path, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().into(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn fill(dir: &Path, version: &str) -> Result<(), durable_fs::Error> {
    write_file(
        &dir.join("meta.json"),
        format!("{{\"version\": \"{version}\"}}").as_bytes(),
    )?;
    write_file(&dir.join("adapter/weights.bin"), &vec![version.len() as u8; 5000])?;
    write_file(&dir.join(format!("only-in-{version}.txt")), version.as_bytes())
}

/// The work the child does: the folder `ckpt` from v1 to v2, and the file `state` likewise.
fn work(root: &Path) {
    replace_dir(&root.join("ckpt"), |d| fill(d, "v2")).unwrap();
    write_file(&root.join("state"), b"second version, longer than the first").unwrap();
}

fn setup(root: &Path) {
    replace_dir(&root.join("ckpt"), |d| fill(d, "v1")).unwrap();
    write_file(&root.join("state"), b"first").unwrap();
}

/// How often `work` reaches each point.
fn hits() -> BTreeMap<&'static str, usize> {
    let root = tempfile::tempdir().unwrap();
    setup(root.path());
    let counts: Vec<(&str, Arc<AtomicUsize>)> = points::ALL
        .iter()
        .map(|p| (*p, Arc::new(AtomicUsize::new(0))))
        .collect();
    for (point, count) in &counts {
        let count = count.clone();
        fail::cfg_callback(*point, move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    work(root.path());
    for point in points::ALL {
        fail::remove(point);
    }
    counts.into_iter().map(|(p, c)| (p, c.load(Ordering::SeqCst))).collect()
}

/// In the child process: abort at the `k`-th time `point` is reached.
#[test]
fn child_entry() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let (point, rest) = spec.split_once('@').unwrap();
    let (k, root) = rest.split_once('@').unwrap();
    let k: usize = k.parse().unwrap();
    let seen = AtomicUsize::new(0);
    fail::cfg_callback(point.to_string(), move || {
        if seen.fetch_add(1, Ordering::SeqCst) + 1 == k {
            std::process::abort();
        }
    })
    .unwrap();
    work(Path::new(root));
}

#[test]
fn an_abort_at_any_step_leaves_the_old_or_the_new_version() {
    let _serial = SERIAL.lock().unwrap();
    let counts = hits();
    for point in points::ALL {
        assert!(counts[point] > 0, "{point} is never reached");
    }
    let (v1, v2) = {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fill(a.path(), "v1").unwrap();
        fill(b.path(), "v2").unwrap();
        (snapshot(a.path()), snapshot(b.path()))
    };
    let mut outcomes = BTreeMap::new();
    for (point, n) in counts {
        for k in 1..=n {
            let root = tempfile::tempdir().unwrap();
            setup(root.path());
            let status = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_entry", "--test-threads=1", "--nocapture"])
                .env(CHILD, format!("{point}@{k}@{}", root.path().display()))
                .output()
                .unwrap()
                .status;
            assert!(!status.success(), "{point} #{k}: the child was not aborted");
            let ckpt = root.path().join("ckpt");
            recover_dir(&ckpt).unwrap();
            let now = snapshot(&ckpt);
            let version = if now == v1 {
                "v1"
            } else if now == v2 {
                "v2"
            } else {
                panic!(
                    "{point} #{k}: ckpt/ is neither version: {:?}",
                    now.keys().collect::<Vec<_>>()
                )
            };
            let state = std::fs::read(root.path().join("state")).unwrap();
            assert!(
                state == b"first" || state == b"second version, longer than the first",
                "{point} #{k}: state is {state:?}"
            );
            durable_fs::remove_stale_temporaries(root.path()).unwrap();
            let left: Vec<String> = std::fs::read_dir(root.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != "ckpt" && n != "state")
                .collect();
            assert!(left.is_empty(), "{point} #{k}: left behind {left:?}");
            *outcomes.entry(version).or_insert(0) += 1;
        }
    }
    // Aborts before the swap keep v1, after it v2: both must have happened.
    assert!(outcomes.len() == 2, "{outcomes:?}");
}

#[test]
fn every_write_syncs_its_file_and_folder() {
    let _serial = SERIAL.lock().unwrap();
    let (files, dirs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (f, d) = (files.clone(), dirs.clone());
    fail::cfg_callback(points::SYNC_FILE, move || {
        f.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    fail::cfg_callback(points::SYNC_DIR, move || {
        d.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    write_file(&root.path().join("a"), b"x").unwrap();
    let after_one = (files.load(Ordering::SeqCst), dirs.load(Ordering::SeqCst));
    replace_dir(&root.path().join("ckpt"), |d| fill(d, "v1")).unwrap();
    let after_swap = (files.load(Ordering::SeqCst), dirs.load(Ordering::SeqCst));
    fail::remove(points::SYNC_FILE);
    fail::remove(points::SYNC_DIR);
    assert_eq!(after_one, (1, 1), "write_file: one file sync, one folder sync");
    // Writing the 3 files: a file and a folder sync each; then the new tree, each of its 3
    // files and 2 folders again; then the parent after the rename.
    let swap = (after_swap.0 - after_one.0, after_swap.1 - after_one.1);
    assert_eq!(swap, (3 + 3, 3 + 2 + 1), "replace_dir: (file syncs, folder syncs)");
}

#[test]
fn a_failed_fill_leaves_the_old_folder_and_no_temporary() {
    let _serial = SERIAL.lock().unwrap();
    let root = tempfile::tempdir().unwrap();
    let ckpt = root.path().join("ckpt");
    replace_dir(&ckpt, |d| fill(d, "v1")).unwrap();
    let before = snapshot(&ckpt);
    let err = replace_dir(&ckpt, |d| {
        fill(d, "v2")?;
        Err(durable_fs::Error {
            path: d.join("full"),
            source: std::io::Error::other("no space left on device"),
        })
    })
    .unwrap_err();
    assert!(err.to_string().contains("no space left"), "{err}");
    assert_eq!(snapshot(&ckpt), before);
    let names: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ckpt"]);
}
