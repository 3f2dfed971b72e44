//! Quiet hours: a daily window in the user's IANA time zone ("22:00"–"07:00") during which
//! messages wait. Given the current instant, [`QuietHours::deliver_at`] answers "now" or the
//! instant (UTC) the window ends, across midnight and daylight-saving changes: an end time
//! that does not exist that day (skipped by a spring-forward) moves to the first minute that
//! does; one that exists twice (fall-back) is its first occurrence.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A daily quiet window in a time zone. `start == end` means no quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub zone: Tz,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// A time zone by its IANA name (`America/New_York`), or a message saying it is unknown.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone name (e.g. \"Europe/Berlin\")."))
}

/// A wall-clock time `HH:MM` (24 h), or a message saying what is wrong.
pub fn parse_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("{s:?} is not a time of day as HH:MM (e.g. \"22:00\")."))
}

impl QuietHours {
    /// The window `start`–`end` (`HH:MM`) in the zone named `zone`.
    pub fn parse(zone: &str, start: &str, end: &str) -> Result<QuietHours, String> {
        Ok(QuietHours {
            zone: parse_zone(zone)?,
            start: parse_time(start)?,
            end: parse_time(end)?,
        })
    }

    /// Whether the local time `t` falls inside the window (start inclusive, end exclusive).
    fn contains(&self, t: NaiveTime) -> bool {
        if self.start == self.end {
            false
        } else if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// `None` to deliver at `now`, or the instant the window that holds `now` ends.
    pub fn deliver_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.zone);
        let t = local.time();
        if !self.contains(t) {
            return None;
        }
        let today = local.date_naive();
        // The window ends today, unless it wraps midnight and started this evening.
        let end_day = if self.start > self.end && t >= self.start {
            today.succ_opt()?
        } else {
            today
        };
        Some(self.instant(end_day, self.end))
    }

    /// The first instant at or after the local `day` `time` in the zone.
    fn instant(&self, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let mut at = day.and_time(time);
        // A spring-forward gap is at most a few hours; step forward a minute at a time.
        for _ in 0..=(24 * 60) {
            match self.zone.from_local_datetime(&at) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => at += Duration::minutes(1),
            }
        }
        Utc.from_utc_datetime(&at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn night(zone: &str) -> QuietHours {
        QuietHours::parse(zone, "22:00", "07:00").unwrap()
    }

    #[test]
    fn outside_the_window_delivers_now() {
        // 12:00 UTC is 17:30 in Kolkata.
        assert_eq!(night("Asia/Kolkata").deliver_at(utc("2026-01-01T12:00:00Z")), None);
        // 07:00 sharp is the end: open again.
        assert_eq!(night("Asia/Kolkata").deliver_at(utc("2026-01-01T01:30:00Z")), None);
    }

    #[test]
    fn a_window_across_midnight_ends_the_next_morning() {
        // 17:00 UTC = 22:30 IST → 07:00 IST next day = 01:30 UTC.
        let q = night("Asia/Kolkata");
        assert_eq!(
            q.deliver_at(utc("2026-01-01T17:00:00Z")),
            Some(utc("2026-01-02T01:30:00Z"))
        );
        // 20:00 UTC = 01:30 IST (after midnight) → 07:00 IST the same day.
        assert_eq!(
            q.deliver_at(utc("2026-01-01T20:00:00Z")),
            Some(utc("2026-01-02T01:30:00Z"))
        );
    }

    #[test]
    fn a_window_across_the_spring_forward_ends_at_local_seven_edt() {
        // 2026-03-08 is the US spring-forward: 22:30 EST on the 7th = 03:30 UTC on the 8th;
        // 07:00 EDT (UTC-4) on the 8th = 11:00 UTC, not 12:00.
        let q = night("America/New_York");
        assert_eq!(
            q.deliver_at(utc("2026-03-08T03:30:00Z")),
            Some(utc("2026-03-08T11:00:00Z"))
        );
        // And across the fall-back (2026-11-01): 07:00 EST = 12:00 UTC.
        assert_eq!(
            q.deliver_at(utc("2026-11-01T04:00:00Z")),
            Some(utc("2026-11-01T12:00:00Z"))
        );
    }

    #[test]
    fn an_end_inside_the_gap_moves_to_the_first_valid_minute() {
        // 02:30 does not exist on 2026-03-08 in New York: the window ends at 03:00 EDT.
        let q = QuietHours::parse("America/New_York", "01:00", "02:30").unwrap();
        assert_eq!(
            q.deliver_at(utc("2026-03-08T06:30:00Z")),
            Some(utc("2026-03-08T07:00:00Z"))
        );
    }

    #[test]
    fn a_day_window_and_an_empty_window() {
        let q = QuietHours::parse("UTC", "09:00", "17:00").unwrap();
        assert_eq!(
            q.deliver_at(utc("2026-05-01T10:00:00Z")),
            Some(utc("2026-05-01T17:00:00Z"))
        );
        assert_eq!(q.deliver_at(utc("2026-05-01T18:00:00Z")), None);
        let none = QuietHours::parse("UTC", "09:00", "09:00").unwrap();
        assert_eq!(none.deliver_at(utc("2026-05-01T09:00:00Z")), None);
    }

    #[test]
    fn bad_zones_and_times_are_named() {
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("Mars/Olympus"));
        assert!(parse_time("25:00").unwrap_err().contains("25:00"));
    }
}
