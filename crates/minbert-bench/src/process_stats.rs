//! What the process used, from Linux's `/proc` (None elsewhere). Peak memory is the trainer's
//! `minbert_train::progress::peak_rss_mib`, which its run summary needs too.

pub use minbert_train::progress::peak_rss_mib;

/// User + system CPU seconds of the whole process.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
