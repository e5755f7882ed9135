//! Runs that crash, are interrupted or find their inputs changed: a process aborted at each step
//! of each checkpoint save leaves complete `best/` and `last/` (one of the two versions, bit for
//! bit) and resumes to the uninterrupted result; `last/` is saved on a timer and when
//! interrupted; a changed data file or base model is refused on resume; f16 that overflows step
//! after step stops the run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use durable_fs::points;
use minbert_train::{TrainConfig, TrainError, TrainOptions, train};
use tempfile::TempDir;

const CHILD: &str = "MINBERT_CRASH_CHILD";
/// The swap steps of every save, and a file write in the middle of one.
const CRASH_POINTS: [&str; 4] = [
    points::FILE_AFTER_RENAME,
    points::DIR_FILLED,
    points::DIR_OLD_ASIDE,
    points::DIR_NEW_IN_PLACE,
];

fn crash_config(root: &Path) -> TrainConfig {
    let (model, data) = (root.join("tiny-bert"), root.join("data"));
    config(
        &model,
        &data,
        ALL_TASKS,
        &[
            "adapter.mode=lora",
            "adapter.r=2",
            "adapter.dropout=0.1",
            "train.epochs=1",
            "train.batch_size=6",
            "train.lr=1e-3",
            "train.eval_every=2",
            "train.schedule_tasks=round-robin",
        ],
    )
}

/// A tiny model and data in `root`, as every run of this file uses them.
fn inputs(root: &Path) {
    tiny_model(root);
    small_data(root, 12, 8);
}

/// Every file under `dir` with its bytes; empty when `dir` is missing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
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

/// The versions of `name/` on disk during a save: the current or set-aside one, and the new
/// one being written (`.{name}.tmp-*`).
fn versions(run: &Path, name: &str) -> (BTreeMap<PathBuf, Vec<u8>>, BTreeMap<PathBuf, Vec<u8>>) {
    let current = if run.join(name).exists() {
        snapshot(&run.join(name))
    } else {
        snapshot(&run.join(format!(".{name}.old")))
    };
    let tmp = std::fs::read_dir(run)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&format!(".{name}.tmp-")) && e.path().is_dir())
        .map(|e| snapshot(&e.path()))
        .unwrap_or_default();
    (current, tmp)
}

/// In the child process: train, and at the `k`-th time `point` is reached record the versions
/// of `best/` and `last/` on disk (copied to `versions/`) and abort.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let mut parts = spec.splitn(3, '@');
    let (point, k, root) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let (k, root) = (k.parse::<usize>().unwrap(), PathBuf::from(root));
    let run = root.join("run");
    let seen = AtomicUsize::new(0);
    let record = root.clone();
    fail::cfg_callback(point.to_string(), move || {
        if seen.fetch_add(1, Ordering::SeqCst) + 1 == k {
            for name in ["best", "last"] {
                let (current, new) = versions(&record.join("run"), name);
                let save = |tag: &str, files: BTreeMap<PathBuf, Vec<u8>>| {
                    let dir = record.join("versions").join(format!("{name}-{tag}"));
                    for (path, bytes) in files {
                        std::fs::create_dir_all(dir.join(&path).parent().unwrap()).unwrap();
                        std::fs::write(dir.join(path), bytes).unwrap();
                    }
                };
                save("current", current);
                save("new", new);
            }
            std::process::abort();
        }
    })
    .unwrap();
    let _ = train(&crash_config(&root), &options(&run));
}

/// Parameters by path.
type Values = Vec<(String, Vec<f32>)>;

/// How often an uninterrupted run reaches each crash point, and its parameters.
fn reference(root: &Path) -> (BTreeMap<&'static str, usize>, Values) {
    let counts: Vec<_> = CRASH_POINTS
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
    let trained = run(&crash_config(root), &root.join("whole"));
    for point in CRASH_POINTS {
        fail::remove(point);
    }
    let counts = counts.into_iter().map(|(p, c)| (p, c.load(Ordering::SeqCst))).collect();
    (counts, values(&trained.model))
}

#[test]
fn a_run_aborted_at_any_step_of_a_save_recovers_and_resumes_exactly() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    let (counts, whole) = reference(root.path());
    eprintln!("crash points reached by an uninterrupted run: {counts:?}");
    assert!(counts[points::DIR_NEW_IN_PLACE] >= 5, "{counts:?}");
    for (point, n) in counts {
        // Every save's swap; the file writes inside the first, middle and last save.
        let ks: Vec<usize> = if point == points::FILE_AFTER_RENAME {
            vec![1, n / 2, n]
        } else {
            (1..=n).collect()
        };
        for k in ks {
            let case = TempDir::new_in(root.path()).unwrap();
            for name in ["tiny-bert", "data"] {
                std::os::unix::fs::symlink(root.path().join(name), case.path().join(name)).unwrap();
            }
            let status = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "crash_child", "--test-threads=1", "--nocapture"])
                .env(CHILD, format!("{point}@{k}@{}", case.path().display()))
                .output()
                .unwrap()
                .status;
            assert!(!status.success(), "{point} #{k}: the child did not abort");
            let run_dir = case.path().join("run");
            for name in ["best", "last"] {
                durable_fs::recover_dir(&run_dir.join(name)).unwrap();
                let now = snapshot(&run_dir.join(name));
                let saved = |tag: &str| snapshot(&case.path().join("versions").join(format!("{name}-{tag}")));
                let (current, new) = (saved("current"), saved("new"));
                // A new version counts only once complete (meta.json is its last file).
                let complete_new = new.contains_key(Path::new("meta.json"));
                assert!(
                    now == current || (complete_new && now == new),
                    "{point} #{k}: {name}/ is neither version ({} files)",
                    now.len()
                );
            }
            let mut opts = options(&run_dir);
            opts.resume = run_dir.join("last/state.json").exists();
            let resumed = train(&crash_config(case.path()), &opts).unwrap_or_else(|e| panic!("{point} #{k}: {e}"));
            assert_same_values(
                &values(&resumed.model),
                &whole,
                &format!("{point} #{k}: resumed vs whole"),
            );
        }
    }
}

#[test]
fn last_is_saved_on_a_timer_and_when_interrupted() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    let saves = Arc::new(AtomicUsize::new(0));
    let counter = saves.clone();
    fail::cfg_callback(points::DIR_NEW_IN_PLACE, move || {
        counter.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let mut config = crash_config(root.path());
    config.train.eval_every = 0;
    // No evaluation until the epoch ends (6 steps): only the timer saves in between.
    config.train.save_every_minutes = 1e-9;
    let out = root.path().join("timer");
    let trained = run(&config, &out);
    let timed = saves.swap(0, Ordering::SeqCst);
    config.train.save_every_minutes = 0.0;
    run(&config, &root.path().join("untimed"));
    let untimed = saves.swap(0, Ordering::SeqCst);
    fail::remove(points::DIR_NEW_IN_PLACE);
    assert_eq!(trained.summary.steps, 6);
    // Every step but the last (which the end-of-epoch evaluation saves) saved last/.
    assert_eq!(timed, untimed + 5, "timed {timed}, untimed {untimed}");

    // An interrupt stops the run at the next step, with last/ saved there.
    let out = root.path().join("interrupted");
    let mut opts = options(&out);
    let flag = Arc::new(AtomicBool::new(true));
    opts.interrupt = Some(flag.clone());
    let err = train(&config, &opts).err().unwrap();
    assert!(matches!(err, TrainError::Interrupted { step: 1, .. }), "{err}");
    assert!(err.to_string().contains("--resume"), "{err}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("last/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["step"], 1);
    flag.store(false, Ordering::SeqCst);
    opts.resume = true;
    let resumed = train(&config, &opts).unwrap();
    assert_same_values(
        &values(&resumed.model),
        &values(&trained.model),
        "interrupted and resumed vs whole",
    );
}

fn paused_run(root: &Path, name: &str) -> (TrainConfig, TrainOptions) {
    let config = crash_config(root);
    let mut opts = options(&root.join(name));
    opts.pause_at_step = Some(2);
    train(&config, &opts).unwrap();
    opts.pause_at_step = None;
    opts.resume = true;
    (config, opts)
}

#[test]
fn resume_refuses_changed_data_naming_the_file_unless_accepted() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    let (config, opts) = paused_run(root.path(), "run");
    let sst = root.path().join("data/ids-sst-train.csv");
    let original = std::fs::read_to_string(&sst).unwrap();
    // Shrunk: its plan would point past the end of the file.
    let shorter: String = original.lines().take(5).map(|l| format!("{l}\n")).collect();
    std::fs::write(&sst, &shorter).unwrap();
    let err = train(&config, &opts).err().unwrap().to_string();
    assert!(
        err.contains("ids-sst-train.csv") && err.contains("changed since the run started") && err.contains("bytes"),
        "{err}"
    );
    assert!(err.contains("--accept-changed-data"), "{err}");
    // Same size, other content.
    let swapped = original.replacen("The Rock", "The Roll", 1);
    assert!(swapped != original && swapped.len() == original.len());
    std::fs::write(&sst, &swapped).unwrap();
    let err = train(&config, &opts).err().unwrap().to_string();
    assert!(err.contains("ids-sst-train.csv"), "{err}");

    // Accepted: the epoch starts over on the new data (4 batches of SST fewer planned).
    std::fs::write(&sst, &shorter).unwrap();
    let trained = train(
        &config,
        &TrainOptions {
            accept_changed_data: true,
            ..opts
        },
    )
    .unwrap();
    assert_eq!(trained.summary.status, "completed");
    assert!(
        trained.summary.notes.iter().any(|n| n.contains("data changed")),
        "{:?}",
        trained.summary.notes
    );
    // 2 steps before the change, then one full epoch of 1 + 2 + 2 batches.
    assert_eq!(trained.summary.steps, 2 + 5);
    std::fs::write(&sst, original).unwrap();
}

#[test]
fn a_moved_run_resumes_and_another_base_model_is_refused() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    paused_run(root.path(), "run");
    let whole = run(&crash_config(root.path()), &root.path().join("whole"));
    // The whole project (model, data, run) moves: the config's absolute paths are compared by
    // content.
    let moved = root.path().join("moved");
    std::fs::create_dir(&moved).unwrap();
    for name in ["tiny-bert", "data", "run"] {
        std::fs::rename(root.path().join(name), moved.join(name)).unwrap();
    }
    let config = crash_config(&moved);
    let mut opts = options(&moved.join("run"));
    opts.resume = true;
    let resumed = train(&config, &opts).unwrap();
    assert_same_values(
        &values(&resumed.model),
        &values(&whole.model),
        "moved and resumed vs whole",
    );

    // Another config.json (epsilon) under the same path is another model.
    let (config, opts) = paused_run(&moved, "second");
    let config_json = moved.join("tiny-bert/config.json");
    let text = std::fs::read_to_string(&config_json).unwrap();
    std::fs::write(&config_json, text.replace("1e-12", "1e-05")).unwrap();
    let err = train(&config, &opts).err().unwrap().to_string();
    assert!(
        err.contains("config.json") && err.contains("another base model"),
        "{err}"
    );
    // So is another tokenizer.
    std::fs::write(&config_json, text).unwrap();
    let tokenizer = moved.join("tiny-bert/tokenizer.json");
    let json = std::fs::read_to_string(&tokenizer).unwrap();
    let edited = json.replacen("\"max_length\":128", "\"max_length\":256", 1);
    assert_ne!(edited, json);
    std::fs::write(&tokenizer, edited).unwrap();
    let err = train(&config, &opts).err().unwrap().to_string();
    assert!(err.contains("tokenizer") && err.contains("another base model"), "{err}");
}

#[test]
fn a_run_killed_before_its_first_checkpoint_starts_over() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    let out = root.path().join("run");
    // What a run killed during its first steps leaves: its config and a few log lines.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("config.toml"), crash_config(root.path()).to_toml()).unwrap();
    std::fs::write(
        out.join("metrics.jsonl"),
        "{\"type\":\"train\",\"step\":1,\"epoch\":0.1,\"loss\":{},\"wall_s\":1}\n",
    )
    .unwrap();
    for resume in [false, true] {
        let mut opts = options(&out);
        opts.resume = resume;
        let trained = train(&crash_config(root.path()), &opts).unwrap();
        assert_eq!(trained.summary.steps, 6, "resume {resume}");
        assert!(
            trained.summary.notes.iter().any(|n| n.contains("starting it over")),
            "{:?}",
            trained.summary.notes
        );
        let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        assert!(
            !log.contains("\"epoch\":0.1,"),
            "the killed start's log was kept: {log}"
        );
        // Leave it killed before its first checkpoint again.
        std::fs::remove_dir_all(out.join("last")).unwrap();
    }
}

#[test]
fn f16_that_overflows_step_after_step_stops_the_run() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    let mut config = crash_config(root.path());
    config.train.precision = minbert_task::Precision::F16;
    config.train.cpu_half = true;
    // 2^40 overflows every f16 gradient; three halvings do not bring it in range.
    config.train.loss_scale = 2f64.powi(40);
    config.train.max_skipped_steps = 3;
    let err = train(&config, &options(&root.path().join("run"))).err().unwrap();
    assert!(matches!(err, TrainError::Overflowing { steps: 3, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("f16") && text.contains("bf16"), "{text}");
}

#[test]
fn data_max_len_and_rank_are_checked_against_the_model_before_any_work() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    let out = root.path().join("run");
    let mut config = crash_config(root.path());
    // The tiny model has 64 positions and width 32.
    config.data.max_len = 65;
    let err = train(&config, &options(&out)).err().unwrap().to_string();
    assert!(err.contains("data.max_len") && err.contains("64 positions"), "{err}");
    config.data.max_len = 32;
    config.adapter.r = 33;
    let err = train(&config, &options(&out)).err().unwrap().to_string();
    assert!(err.contains("adapter.r") && err.contains("(32)"), "{err}");
    assert!(!out.exists(), "a refused start left {}", out.display());
    // A tokenizer with more ids than the model has embeddings.
    config.adapter.r = 2;
    let config_json = root.path().join("tiny-bert/config.json");
    let text = std::fs::read_to_string(&config_json).unwrap();
    std::fs::write(&config_json, text.replace("30522", "1000")).unwrap();
    let err = train(&config, &options(&out)).err().unwrap().to_string();
    assert!(err.contains("vocab_size is 1000"), "{err}");
    std::fs::write(&config_json, text).unwrap();

    // A checkpoint is held to the same limit when it loads.
    let mut opts = options(&out);
    opts.pause_at_step = Some(1);
    train(&config, &opts).unwrap();
    let meta_path = out.join("last/meta.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(&meta_path, meta.replace("\"max_len\": 32", "\"max_len\": 100")).unwrap();
    let err = minbert_task::load_checkpoint(&out.join("last"), &burn::tensor::Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("data.max_len is 100") && err.contains("64 positions"),
        "{err}"
    );
}

#[test]
fn a_nan_selection_score_never_becomes_best() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    // STS dev pairs that all have one similarity: Pearson (and so overall) is NaN.
    let dev = root.path().join("data/sts-dev.csv");
    let text = std::fs::read_to_string(&dev).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let column = header.split('\t').position(|c| c == "similarity").unwrap();
    let flat: String = lines
        .map(|l| {
            let mut cells: Vec<&str> = l.split('\t').collect();
            cells[column] = "3.0";
            format!("{}\n", cells.join("\t"))
        })
        .collect();
    std::fs::write(&dev, format!("{header}\n{flat}")).unwrap();
    let out = root.path().join("run");
    let trained = run(&crash_config(root.path()), &out);
    assert!(trained.summary.best.is_none());
    assert!(!out.join("best").exists());
    assert!(
        trained.summary.notes.iter().any(|n| n.contains("cannot become best/")),
        "{:?}",
        trained.summary.notes
    );
}

/// Two checkpoints of different steps and weights (`a/last`, step 1, and `b/last`, step 4).
fn two_checkpoints(root: &Path) -> Vec<minbert_task::LoadedCheckpoint> {
    let config = crash_config(root);
    ["a", "b"]
        .iter()
        .zip([1, 4])
        .map(|(name, step)| {
            let mut opts = options(&root.join(name));
            opts.pause_at_step = Some(step);
            train(&config, &opts).unwrap();
            minbert_task::load_checkpoint(&root.join(name).join("last"), &burn::tensor::Device::flex()).unwrap()
        })
        .collect()
}

fn save(dir: &Path, version: &minbert_task::LoadedCheckpoint) {
    let extras = minbert_task::checkpoint::CheckpointExtras::model_only(version.lora.as_ref());
    minbert_task::checkpoint::save_checkpoint(dir, &version.model, &version.meta, extras).unwrap();
}

/// Reads `dir` and checks that what it read is `version`, bit for bit.
fn assert_reads(dir: &Path, version: &minbert_task::LoadedCheckpoint, what: &str) {
    let loaded = minbert_task::load_checkpoint(dir, &burn::tensor::Device::flex()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.meta.step, version.meta.step, "{what}");
    assert_same_values(&values(&loaded.model), &values(&version.model), what);
}

#[test]
fn a_checkpoint_read_while_a_run_replaces_it_comes_from_one_save() {
    let _serial = serial();
    let root = TempDir::new().unwrap();
    inputs(root.path());
    let [a, b]: [_; 2] = two_checkpoints(root.path()).try_into().ok().unwrap();
    let shared = root.path().join("live/last");
    save(&shared, &a);

    // A save lands while a reader's files are read: it reads again, all of the new save.
    let reads = Arc::new(AtomicUsize::new(0));
    let (counter, dir, new) = (reads.clone(), shared.clone(), Arc::new(b));
    let saved = new.clone();
    fail::cfg_callback(points::DIR_READ, move || {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            save(&dir, &saved);
        }
    })
    .unwrap();
    assert_reads(&shared, &new, "a read during which a save landed");
    assert_eq!(reads.load(Ordering::SeqCst), 2, "read once more after the save");

    // A read that starts mid-swap (the old version aside, the new not in place) finds no
    // checkpoint, and reads again once the swap is done.
    let (aside_tx, aside_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    fail::cfg_callback(points::DIR_OLD_ASIDE, move || {
        aside_tx.send(()).unwrap();
        go_rx.lock().unwrap().recv().unwrap();
    })
    .unwrap();
    let a_again = minbert_task::load_checkpoint(&root.path().join("a/last"), &burn::tensor::Device::flex()).unwrap();
    let writer = {
        let dir = shared.clone();
        std::thread::spawn(move || save(&dir, &a))
    };
    aside_rx.recv().unwrap();
    let (done_tx, done_rx) = (std::sync::Mutex::new(Some(go_tx)), std::sync::Mutex::new(Some(writer)));
    reads.store(0, Ordering::SeqCst);
    let counter = reads.clone();
    fail::cfg_callback(points::DIR_READ, move || {
        counter.fetch_add(1, Ordering::SeqCst);
        // After the first attempt: let the swap finish.
        if let Some(go) = done_tx.lock().unwrap().take() {
            go.send(()).unwrap();
            done_rx.lock().unwrap().take().unwrap().join().unwrap();
        }
    })
    .unwrap();
    assert_reads(&shared, &a_again, "a read that began mid-swap");
    assert_eq!(reads.load(Ordering::SeqCst), 2, "read once more after the swap");
}
