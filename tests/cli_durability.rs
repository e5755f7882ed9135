//! `minbert train` killed, interrupted and raced, end to end on the real model: kill -9 at
//! random moments then `--resume` gives the uninterrupted run's files; a second writer of a
//! live run is refused with the holder's pid; SIGINT saves `last/` and exits non-zero; an
//! exported `MINBERT_MODEL` that is not a checkpoint's base is not used for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod common;

use common::*;

/// 3 epochs of 4 steps (SST and STS, 8 examples each, batches of 4), `last/` saved at every
/// step (the timer at its smallest) and dev scored every 4 steps.
fn write_config(dir: &Path, epochs: usize) -> String {
    let path = dir.join("durable.toml");
    std::fs::write(
        &path,
        format!(
            "[adapter]\nmode = \"lora\"\nr = 2\n[data]\nmax_len = 24\nsubset = 8\ndev_subset = 8\n\
             [tasks.sst]\n[tasks.sts]\npair = \"separate\"\nhead = \"cosine\"\nloss = \"cosent\"\n\
             [train]\nepochs = {epochs}\nbatch_size = 4\nlr = 1e-3\nlog_every = 1\neval_every = 4\n\
             save_every_minutes = 1e-9\nschedule_tasks = \"round-robin\"\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// `minbert train` on `config` into `out`, started in the background.
fn spawn_train(config: &str, out: &Path, resume: bool) -> Child {
    let mut args = vec!["train", "--config", config, "--out", out.to_str().unwrap()];
    args.extend(["--progress", "plain", "--threads", "2"]);
    if resume {
        args.push("--resume");
    }
    Command::new(env!("CARGO_BIN_EXE_minbert"))
        .args(&args)
        .env("MINBERT_DATA_DIR", data_dir())
        .env("MINBERT_MODEL", model_dir())
        .env("MINBERT_DEVICE", "flex")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Waits until `done` holds, for at most a minute.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited a minute for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The number of `type: train` lines logged so far.
fn train_lines(out: &Path) -> usize {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .map(|t| t.lines().filter(|l| l.contains("\"type\":\"train\"")).count())
        .unwrap_or(0)
}

/// The mean time between two logged steps of the finished run in `out`, in ms (at least 1).
fn mean_step_ms(out: &Path) -> u64 {
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let walls: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("\"type\":\"train\""))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["wall_s"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let span = walls.last().unwrap() - walls.first().unwrap();
    ((span * 1e3 / (walls.len() - 1) as f64) as u64).max(1)
}

/// The files a finished run's state is made of, which an exact resume reproduces byte for byte.
fn exact_files(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    [
        "last/heads.safetensors",
        "last/adapter/adapter_model.safetensors",
        "last/optimizer.safetensors",
    ]
    .iter()
    .map(|f| (PathBuf::from(f), std::fs::read(out.join(f)).unwrap()))
    .collect()
}

#[test]
fn kill_9_at_random_moments_then_resume_gives_the_uninterrupted_run() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), 3);
    let whole = dir.path().join("whole");
    let (ok, text) = finish(spawn_train(&config, &whole, false));
    assert!(ok, "{text}");

    let step_ms = mean_step_ms(&whole);
    let out = dir.path().join("killed");
    // A fixed xorshift sequence: the kills land at the same points of a step on every run of
    // the test, however fast the machine.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut kills_mid_run = 0;
    for round in 0..4 {
        let child = spawn_train(&config, &out, round > 0);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Once a step is logged, wait up to one step more: kills during steps, saves and
        // evaluations, with most of the run left for the next rounds.
        let lines = train_lines(&out);
        let mut child = child;
        let started = Instant::now();
        while train_lines(&out) <= lines && child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(60), "no progress");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(seed % step_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills_mid_run += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        kills_mid_run >= 3,
        "only {kills_mid_run} kills landed before the run ended"
    );
    let (ok, text) = finish(spawn_train(&config, &out, true));
    assert!(ok, "{text}");
    assert!(text.contains("after 12 steps"), "{text}");
    assert_eq!(exact_files(&out), exact_files(&whole));
    assert_eq!(train_lines(&out), train_lines(&whole));
    // Nothing of the interrupted saves is left beside the checkpoints.
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.ends_with(".old"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_second_writer_of_a_live_run_is_refused_with_the_holders_pid() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), 3);
    let out = dir.path().join("run");
    let first = spawn_train(&config, &out, false);
    let pid = first.id().to_string();
    wait_for("the first step", || train_lines(&out) > 0);
    for resume in [true, false] {
        let mut args = vec!["train", "--config", &config, "--out", out.to_str().unwrap()];
        if resume {
            args.push("--resume");
        }
        let message = fails(&args);
        assert!(
            message.contains("in use by another minbert train") && message.contains(&pid),
            "{message}"
        );
    }
    let (ok, text) = finish(first);
    assert!(ok, "{text}");
    assert!(out.join("summary.json").is_file());
    assert_eq!(train_lines(&out), 12);
}

#[test]
fn sigint_saves_last_and_the_run_resumes() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), 3);
    let out = dir.path().join("run");
    let child = spawn_train(&config, &out, false);
    wait_for("the first step", || train_lines(&out) > 0);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (ok, text) = finish(child);
    assert!(!ok, "an interrupted run exits non-zero: {text}");
    assert!(
        text.contains("interrupted at step") && text.contains("--resume"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    let state = json(&out.join("last/state.json"));
    let step = state["step"].as_u64().unwrap();
    assert!((1..12).contains(&step), "saved at step {step}");
    let (ok, text) = finish(spawn_train(&config, &out, true));
    assert!(ok && text.contains("after 12 steps"), "{text}");
}

/// A copy of the tests' model whose config.json says another layer-norm epsilon.
fn other_model(dir: &Path) -> PathBuf {
    let other = dir.join("other-model");
    std::fs::create_dir_all(&other).unwrap();
    for entry in std::fs::read_dir(model_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::os::unix::fs::symlink(&path, other.join(path.file_name().unwrap())).unwrap();
        }
    }
    let config = std::fs::read_to_string(model_dir().join("config.json")).unwrap();
    std::fs::remove_file(other.join("config.json")).unwrap();
    std::fs::write(other.join("config.json"), config.replace("1e-12", "1e-05")).unwrap();
    other
}

#[test]
fn a_base_model_is_checked_by_content_and_minbert_model_is_no_silent_override() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), 1);
    let out = dir.path().join("run");
    let (ok, text) = finish(spawn_train(&config, &out, false));
    assert!(ok, "{text}");
    let best = out.join("best");
    let meta = json(&best.join("meta.json"));
    for key in ["sha256", "config_sha256"] {
        assert_eq!(meta["base_model"][key].as_str().unwrap().len(), 64, "{key}");
    }
    assert_eq!(meta["base_model"]["tokenizer"]["file"], "tokenizer.json");

    let other = other_model(dir.path());
    let eval = |model_env: &Path, extra: &[&str]| {
        let mut args = vec!["eval", "--checkpoint", best.to_str().unwrap(), "--subset", "8"];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_minbert"))
            .args(&args)
            .env("MINBERT_DATA_DIR", data_dir())
            .env("MINBERT_MODEL", model_env)
            .env("MINBERT_DEVICE", "flex")
            .output()
            .unwrap()
    };
    // --model names a model with another config.json: refused, naming the flag and the file.
    let refused = eval(&model_dir(), &["--model", other.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--model=") && stderr.contains("config.json") && stderr.contains("another base model"),
        "{stderr}"
    );
    // An exported MINBERT_MODEL that is another model is set aside for the recorded base.
    let noted = eval(&other, &[]);
    let stderr = String::from_utf8_lossy(&noted.stderr);
    assert!(noted.status.success(), "{stderr}");
    assert!(
        stderr.contains("MINBERT_MODEL=")
            && stderr.contains("is not the base model")
            && stderr.contains("using the recorded one"),
        "{stderr}"
    );
}
