//! Models by Hugging Face Hub id, end to end: a server on 127.0.0.1 answers the `resolve/main`
//! routes as the Hub does, `HF_ENDPOINT` points the binary at it, and the model lands in the
//! standard cache under `HF_HOME`; then the cache alone serves it, and offline with an empty
//! cache the error says what to do.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use common::*;
use minbert_testkit::repo_root;
use tempfile::TempDir;

const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves the files of `model` as the Hub serves `MODEL_ID` at `COMMIT`, one request per
/// connection, until stopped.
struct FakeHub {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHub {
    fn start(model: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, requests) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (stop_flag, count) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                count.fetch_add(1, Ordering::SeqCst);
                answer(stream.unwrap(), &model);
            }
        });
        Self {
            port,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes the port: later requests are refused.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        self.thread.take().unwrap().join().unwrap();
    }
}

/// One request: `GET /{MODEL_ID}/resolve/main/{file}` with an optional `Range: bytes=a-[b]`.
fn answer(mut stream: TcpStream, model: &Path) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let mut range = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = value.trim().strip_prefix("bytes=").map(str::to_string);
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let file = path
        .strip_prefix(&format!("/{MODEL_ID}/resolve/main/"))
        .map(|f| model.join(f));
    let Some(body) = file.and_then(|f| std::fs::read(f).ok()) else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let size = body.len();
    let (start, end) = match range.as_deref().and_then(|r| r.split_once('-')) {
        Some((a, b)) => (
            a.parse().unwrap_or(0),
            b.parse().map_or(size - 1, |b: usize| b.min(size - 1)),
        ),
        None => (0, size - 1),
    };
    let etag = path.rsplit('/').next().unwrap().replace('.', "-");
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{size}\r\n\
         ETag: \"{etag}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
        end + 1 - start
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(&body[start..=end]));
}

/// The binary with only the Hugging Face environment given (no MINBERT_MODEL).
fn minbert_hub(args: &[&str], hf_home: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_minbert"));
    command
        .args(args)
        .env("HF_HOME", hf_home)
        .env("MINBERT_DATA_DIR", data_dir())
        .env("MINBERT_DEVICE", "auto");
    for var in [
        "MINBERT_MODEL",
        "HF_HUB_CACHE",
        "HF_ENDPOINT",
        "HF_HUB_OFFLINE",
        "HF_TOKEN",
        "XDG_CACHE_HOME",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied()).output().unwrap()
}

fn assert_ok(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_hub_id_downloads_into_the_cache_then_resolves_from_it_alone() {
    let home = TempDir::new().unwrap();
    let mut hub = FakeHub::start(model_dir());
    let endpoint = hub.endpoint();
    let first = minbert_hub(&["info"], home.path(), &[("HF_ENDPOINT", &endpoint)]);
    let stdout = assert_ok(&first, "info on a cache miss");
    assert!(stdout.contains("22713216"), "{stdout}");
    assert!(
        hub.requests.load(Ordering::SeqCst) >= 6,
        "the files came from the server"
    );

    // The layout Python's huggingface_hub writes and reads.
    let repo = home.path().join("hub/models--sentence-transformers--all-MiniLM-L6-v2");
    assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), COMMIT);
    let snapshot = repo.join("snapshots").join(COMMIT);
    for file in ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"] {
        assert_eq!(
            std::fs::read(snapshot.join(file)).unwrap(),
            std::fs::read(model_dir().join(file)).unwrap(),
            "{file}"
        );
    }

    hub.stop();
    let second = minbert_hub(
        &["info", "--model", MODEL_ID],
        home.path(),
        &[("HF_ENDPOINT", &endpoint)],
    );
    assert!(assert_ok(&second, "info on a cache hit").contains("22713216"));

    // A released checkpoint names its base model by id: it loads from the cache, offline.
    let checkpoint = repo_root().join("checkpoints/lora-r1");
    let args = ["eval", "--checkpoint", checkpoint.to_str().unwrap(), "--subset", "20"];
    let eval = minbert_hub(&args, home.path(), &[("HF_HUB_OFFLINE", "1")]);
    assert!(assert_ok(&eval, "eval of a released checkpoint").contains("overall"));
}

#[test]
fn offline_with_an_empty_cache_is_one_line_naming_the_id_the_cache_and_the_script() {
    let home = TempDir::new().unwrap();
    let out = minbert_hub(&["info"], home.path(), &[("HF_HUB_OFFLINE", "1")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let cache = home.path().join("hub");
    for part in [MODEL_ID, cache.to_str().unwrap(), "scripts/fetch-model.sh"] {
        assert!(stderr.contains(part), "{part} not in: {stderr}");
    }
}

#[test]
fn an_unreachable_hub_is_a_clear_error() {
    let home = TempDir::new().unwrap();
    let mut hub = FakeHub::start(model_dir());
    let endpoint = hub.endpoint();
    hub.stop();
    let out = minbert_hub(&["info"], home.path(), &[("HF_ENDPOINT", &endpoint)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(MODEL_ID) && stderr.contains(&endpoint) && stderr.contains("scripts/fetch-model.sh"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
