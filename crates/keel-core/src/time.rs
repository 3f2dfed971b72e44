//! Time in storage and APIs: always UTC, in PocketBase's `2006-01-02 15:04:05.000Z` format.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The datetime format PocketBase uses in JSON and in storage.
pub const DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3fZ";

/// Now, formatted for storage.
pub fn now() -> String {
    format(Utc::now())
}

/// Formats a UTC time for storage and JSON.
pub fn format(t: DateTime<Utc>) -> String {
    t.format(DATETIME_FORMAT).to_string()
}

/// Parses the date forms a client may send: PocketBase's format, RFC 3339, or a bare
/// `YYYY-MM-DD` / `YYYY-MM-DD HH:MM:SS`. Returns `None` when nothing matches.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let t = s.trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(n.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_pocketbase_format() {
        let s = "2024-05-06 07:08:09.123Z";
        let t = parse(s).unwrap();
        assert_eq!(format(t), s);
        assert_eq!(
            format(parse("2024-05-06T07:08:09Z").unwrap()),
            "2024-05-06 07:08:09.000Z"
        );
        assert_eq!(format(parse("2024-05-06").unwrap()), "2024-05-06 00:00:00.000Z");
        assert!(parse("yesterday").is_none());
    }
}
