//! Time in storage and APIs: always UTC, in PocketBase's `2006-01-02 15:04:05.000Z` format.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The datetime format PocketBase uses in JSON and in storage.
pub const DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3fZ";

/// Now, formatted for storage.
pub fn now() -> String {
    format(Utc::now())
}

/// Formats a UTC time for storage and JSON, as [`DATETIME_FORMAT`] does. Years 0–9999 (every
/// time Keel stores) are written digit by digit: this runs for every record and log row, and
/// chrono's `format` parses its pattern on every call, at about ten times the cost.
pub fn format(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    let Ok(year) = u32::try_from(year) else {
        return t.format(DATETIME_FORMAT).to_string();
    };
    if year > 9999 {
        return t.format(DATETIME_FORMAT).to_string();
    }
    // A leap second's nanoseconds run past 1e9: `%S` shows it as second 60, `%.3f` the
    // nanoseconds modulo a second.
    let leap = u32::from(t.nanosecond() >= 1_000_000_000);
    let millis = t.nanosecond() % 1_000_000_000 / 1_000_000;
    let mut out = [0u8; 24];
    let mut put = |at: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second() + leap, 2);
    put(20, millis, 3);
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b' '),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        out[at] = sep;
    }
    // ASCII digits and separators only: always UTF-8.
    String::from_utf8(out.to_vec()).unwrap_or_else(|_| t.format(DATETIME_FORMAT).to_string())
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

    #[test]
    fn format_matches_the_pattern_for_every_kind_of_time() {
        use chrono::TimeZone;
        let times = [
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap() + chrono::Duration::milliseconds(999),
            Utc.with_ymd_and_hms(9, 2, 3, 4, 5, 6).unwrap() + chrono::Duration::microseconds(7_890),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 1, 12, 0, 0).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
                .unwrap()
                .and_utc(),
        ];
        for t in times {
            assert_eq!(format(t), t.format(DATETIME_FORMAT).to_string(), "{t:?}");
        }
        assert_eq!(format(times[1]), "2026-12-31 23:59:59.999Z");
    }
}
