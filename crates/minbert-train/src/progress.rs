//! What a user watches: a progress bar per epoch (loss, examples/s, ETA) on a terminal, plain
//! periodic lines otherwise (logs, CI), nothing when quiet. Everything goes to stderr.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use minbert_task::format_duration;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else plain lines.
    #[default]
    Auto,
    Bar,
    Plain,
    Quiet,
}

pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    /// Plain mode: at most one line per interval.
    interval: Duration,
    last_line: Option<Instant>,
    epoch_label: String,
    epoch_start: Instant,
    /// Batches of the current epoch done when it (re)started, for the plain ETA.
    start_done: usize,
    batches: usize,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            other => other,
        };
        Self {
            mode,
            bar: None,
            interval: Duration::from_secs(15),
            last_line: None,
            epoch_label: String::new(),
            epoch_start: Instant::now(),
            start_done: 0,
            batches: 0,
        }
    }

    /// A line of information, kept above the bar.
    pub fn println(&self, line: impl AsRef<str>) {
        match (&self.bar, self.mode) {
            (_, ProgressMode::Quiet) => {}
            (Some(bar), _) => bar.println(line.as_ref()),
            (None, _) => eprintln!("{}", line.as_ref()),
        }
    }

    /// Starts epoch `epoch` (0-based) of `epochs`, of `batches` batches of which `done` are
    /// already done (a resumed run).
    pub fn start_epoch(&mut self, epoch: usize, epochs: usize, batches: usize, done: usize) {
        self.finish_epoch();
        self.epoch_label = format!("epoch {}/{epochs}", epoch + 1);
        self.epoch_start = Instant::now();
        self.start_done = done;
        self.batches = batches;
        self.last_line = Some(Instant::now());
        if self.mode == ProgressMode::Bar {
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} batches {msg} [{elapsed_precise}<{eta_precise}]",
            )
            .expect("a valid template")
            .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr())
                .with_style(style)
                .with_prefix(self.epoch_label.clone())
                .with_position(done as u64);
            bar.reset_eta();
            self.bar = Some(bar);
        }
    }

    /// `done` batches of the epoch are done; `message` says how it goes (losses, speed).
    pub fn update(&mut self, done: usize, message: &str) {
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                    bar.set_message(message.to_string());
                }
            }
            ProgressMode::Plain => {
                if self.last_line.is_some_and(|t| t.elapsed() < self.interval) && done < self.batches {
                    return;
                }
                self.last_line = Some(Instant::now());
                let elapsed = self.epoch_start.elapsed().as_secs_f64();
                let fresh = done.saturating_sub(self.start_done);
                let eta = if fresh > 0 {
                    format_duration(elapsed / fresh as f64 * (self.batches - done) as f64)
                } else {
                    "?".into()
                };
                eprintln!(
                    "{} {done}/{} batches ({:.0}%) {message} elapsed {} eta {eta}",
                    self.epoch_label,
                    self.batches,
                    100.0 * done as f64 / self.batches.max(1) as f64,
                    format_duration(elapsed)
                );
            }
            ProgressMode::Auto | ProgressMode::Quiet => {}
        }
    }

    pub fn finish_epoch(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish_epoch();
    }
}

/// Peak resident set size of this process (`VmHWM`), in MiB; `None` off Linux.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
