//! `read_consistent` against a folder whose writer replaces it: the result comes from one
//! version, read again when a swap was under way.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use durable_fs::{KeptReplaced, old_path, read_consistent, write_file};

#[derive(Debug)]
enum ReadError {
    Missing,
    KeptReplaced,
}

impl From<KeptReplaced> for ReadError {
    fn from(_: KeptReplaced) -> Self {
        Self::KeptReplaced
    }
}

fn read_version(dir: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(dir.join("meta.json")).map_err(|_| ReadError::Missing)
}

#[test]
fn a_read_that_falls_inside_a_swap_reads_again_once_it_is_done() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("last");
    write_file(&dir.join("meta.json"), b"old").unwrap();
    // A writer stopped between its two renames: the old version aside, the new one not in place.
    std::fs::rename(&dir, old_path(&dir)).unwrap();
    let new = root.path().join(".last.tmp-new");
    write_file(&new.join("meta.json"), b"new").unwrap();
    let (started, wait) = mpsc::channel();
    let writer = {
        let (dir, new) = (dir.clone(), new.clone());
        std::thread::spawn(move || {
            wait.recv().unwrap();
            // Well after the first attempt's second look, well before its retry (200 ms on).
            std::thread::sleep(Duration::from_millis(100));
            std::fs::rename(&new, &dir).unwrap();
            std::fs::remove_dir_all(old_path(&dir)).unwrap();
        })
    };
    let mut attempts = 0;
    let read = read_consistent(&dir, "meta.json", || {
        attempts += 1;
        if attempts == 1 {
            started.send(()).unwrap();
        }
        read_version(&dir)
    });
    writer.join().unwrap();
    assert_eq!(read.unwrap(), "new");
    assert!(attempts >= 2, "{attempts} attempts");
}

#[test]
fn a_missing_folder_is_the_reader_s_own_error_and_a_folder_always_replaced_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("last");
    let mut attempts = 0;
    let missing = read_consistent(&dir, "meta.json", || {
        attempts += 1;
        read_version(&dir)
    });
    assert!(matches!(missing, Err(ReadError::Missing)), "{missing:?}");
    assert_eq!(attempts, 1);

    let mut saves = 0;
    let replaced = read_consistent(&dir, "meta.json", || {
        saves += 1;
        write_file(&dir.join("meta.json"), format!("save {saves}").as_bytes()).unwrap();
        read_version(&dir)
    });
    assert!(matches!(replaced, Err(ReadError::KeptReplaced)), "{replaced:?}");
    assert_eq!(saves, durable_fs::READ_ATTEMPTS);
    let message = KeptReplaced { dir: dir.clone() }.to_string();
    assert!(message.contains("last") && message.contains("try again"), "{message}");
}
