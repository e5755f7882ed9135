//! `OutputDir::check`: a new or empty folder passes (its parent created), an existing one only
//! with `overwrite`; a file, or a folder that is or holds an input, never. Each refusal names
//! the flag and the folder.

use std::path::Path;

use durable_fs::OutputDir;
use tempfile::TempDir;

fn out(path: &Path, overwrite: bool) -> OutputDir<'_> {
    OutputDir {
        flag: "--out",
        path,
        overwrite,
    }
}

fn refusal(path: &Path, overwrite: bool, inputs: &[(&str, &Path)]) -> String {
    let err = out(path, overwrite).check(inputs).unwrap_err().to_string();
    assert!(err.starts_with(&format!("--out {}", path.display())), "{err}");
    err
}

#[test]
fn a_new_or_empty_folder_passes_and_its_parent_is_created() {
    let dir = TempDir::new().unwrap();
    let new = dir.path().join("a/b/new");
    out(&new, false).check(&[]).unwrap();
    assert!(new.parent().unwrap().is_dir() && !new.exists());
    std::fs::create_dir(&new).unwrap();
    out(&new, false).check(&[]).unwrap();
}

#[test]
fn a_non_empty_folder_needs_overwrite() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("old.txt"), "x").unwrap();
    let err = refusal(dir.path(), false, &[]);
    assert!(err.ends_with("exists and is not empty; pass --overwrite to replace it whole, or choose another --out"));
    out(dir.path(), true).check(&[]).unwrap();
}

#[test]
fn a_file_or_a_folder_holding_an_input_is_refused_even_with_overwrite() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = refusal(&file, true, &[]);
    assert!(err.ends_with("is a file, not a folder; choose another --out"), "{err}");

    let input = dir.path().join("run/best");
    std::fs::create_dir_all(&input).unwrap();
    let err = refusal(&dir.path().join("run"), true, &[("the input --checkpoint", &input)]);
    assert!(
        err.contains(&format!("is the input --checkpoint {} or holds it", input.display())),
        "{err}"
    );
    assert!(
        err.ends_with("writing there would delete it; choose another --out"),
        "{err}"
    );

    let err = refusal(&file.join("below"), false, &[]);
    assert!(err.contains(": choose another --out: "), "{err}");
}
