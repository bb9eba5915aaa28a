//! Bar times: RFC 3339 or `YYYY-MM-DD` in, RFC 3339 out, within the years a bar may carry.

/// Render epoch milliseconds as an ISO-8601 UTC time.
pub fn format_time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) if ms % 86_400_000 == 0 => t.format("%Y-%m-%d").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms}ms"),
    }
}

/// The wall clock, epoch milliseconds (UTC).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Earliest time accepted: 1900-01-01 (UTC, epoch milliseconds).
pub const MIN_TIME_MS: i64 = -2_208_988_800_000;

/// First time refused: 2200-01-01.
pub const MAX_TIME_MS: i64 = 7_258_118_400_000;

/// Parse a time field to epoch milliseconds.
///
/// Integers: eight digits that form a calendar date in 1900–2199 are a
/// `YYYYMMDD` date (`20240131`, not 1970-08-23 in Unix seconds); otherwise
/// the magnitude tells the unit — below 10¹¹ seconds, below 10¹⁴
/// milliseconds, below 10¹⁷ microseconds, else nanoseconds. Callers refuse
/// results outside [`MIN_TIME_MS`]..[`MAX_TIME_MS`].
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        if s.len() == 8
            && let Some(d) = chrono::NaiveDate::parse_from_str(s, "%Y%m%d")
                .ok()
                .filter(|d| (1900..2200).contains(&chrono::Datelike::year(d)))
        {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
        }
        return Some(match n.unsigned_abs() {
            0..100_000_000_000 => n.checked_mul(1000)?,
            100_000_000_000..100_000_000_000_000 => n,
            100_000_000_000_000..100_000_000_000_000_000 => n / 1000,
            _ => n / 1_000_000,
        });
    }
    if s.len() == 10 {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z") {
        return Some(t.timestamp_millis());
    }
    None
}
