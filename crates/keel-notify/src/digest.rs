//! Digest windows: messages of a topic (and key, e.g. a project) are collected per fixed
//! window of `window_secs` aligned on the Unix epoch, and sent as one message when the
//! window closes. A message at instant `t` belongs to the bucket `[start, start + window)`
//! holding `t`; the bucket is due at its end. The bucket's unique key makes "one send per
//! bucket" a job uniqueness question.

use chrono::{DateTime, TimeZone, Utc};

/// One window of one digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub due: DateTime<Utc>,
}

/// The bucket of a `window_secs` digest that holds `at` (`window_secs` ≥ 1).
pub fn bucket(at: DateTime<Utc>, window_secs: u64) -> Bucket {
    let w = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    let start = at.timestamp().div_euclid(w) * w;
    let start = Utc.timestamp_opt(start, 0).single().unwrap_or(at);
    Bucket {
        start,
        due: start + chrono::Duration::seconds(w),
    }
}

/// The unique key of a digest bucket: topic, key and window start.
pub fn bucket_key(topic: &str, key: &str, b: &Bucket) -> String {
    format!("digest:{topic}:{key}:{}", b.start.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn messages_in_one_window_share_a_bucket_due_at_its_end() {
        let a = bucket(utc("2026-03-08T06:10:00Z"), 3600);
        let b = bucket(utc("2026-03-08T06:59:59Z"), 3600);
        assert_eq!(a, b);
        assert_eq!(a.start, utc("2026-03-08T06:00:00Z"));
        assert_eq!(a.due, utc("2026-03-08T07:00:00Z"));
        assert_eq!(bucket_key("builds", "p1", &a), bucket_key("builds", "p1", &b));
    }

    #[test]
    fn the_window_end_starts_the_next_bucket() {
        let a = bucket(utc("2026-03-08T06:59:59Z"), 3600);
        let b = bucket(utc("2026-03-08T07:00:00Z"), 3600);
        assert_ne!(a, b);
        assert_eq!(b.start, a.due);
        assert_ne!(bucket_key("t", "k", &a), bucket_key("t", "k", &b));
    }

    #[test]
    fn daily_buckets_are_utc_days_whatever_the_local_dst() {
        let b = bucket(utc("2026-03-08T23:59:00Z"), 86_400);
        assert_eq!(b.start, utc("2026-03-08T00:00:00Z"));
        assert_eq!(b.due, utc("2026-03-09T00:00:00Z"));
    }
}
