//! Durations as the progress lines and run summaries print them.

/// `1h02m03s`, `4m05s`, `6s`: whole seconds, negative ones as `0s`.
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn seconds_minutes_and_hours_are_padded_after_the_first_unit() {
        assert_eq!(format_duration(6.4), "6s");
        assert_eq!(format_duration(245.0), "4m05s");
        assert_eq!(format_duration(3723.0), "1h02m03s");
        assert_eq!(format_duration(59.6), "1m00s");
        assert_eq!(format_duration(-3.0), "0s");
    }
}
