//! Log row ids: PocketBase's shape (15 lowercase alphanumerics), sorted by time.

use chrono::{DateTime, Utc};
use keel_core::id::{random_string, ID_ALPHABET};

/// Base 36 digits in ascending order (so that fixed-width numbers sort as text).
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A new id that sorts by `at`: 9 characters of milliseconds since the Unix epoch in base 36
/// (enough until the year 5000), then 6 random ones. Rows written in time order then land at
/// the end of the primary-key index instead of at random places in it: once the index
/// outgrows SQLite's page cache, a random id's insert costs about four times as much (each
/// one dirties a different page). Ids made in the same millisecond are unordered among
/// themselves; times before the epoch count as the epoch.
pub fn time_ordered_id(at: DateTime<Utc>) -> String {
    let mut ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut head = [b'0'; 9];
    for slot in head.iter_mut().rev() {
        *slot = BASE36[(ms % 36) as usize];
        ms /= 36;
    }
    let mut id: String = head.iter().map(|&b| b as char).collect();
    id.push_str(&random_string(6, ID_ALPHABET));
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::id::is_valid_id;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn ids_sort_by_time_and_have_pocketbase_shape() {
        let t0 = at("2026-12-03T13:00:00.000Z");
        let ids: Vec<String> = (0..50)
            .map(|i| time_ordered_id(t0 + chrono::Duration::milliseconds(i * 37)))
            .collect();
        assert!(ids.iter().all(|id| is_valid_id(id)), "{ids:?}");
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        assert!(time_ordered_id(t0 + chrono::Duration::days(365)) > ids[49]);
        let far = time_ordered_id(at("4999-12-31T23:59:59.999Z"));
        assert!(is_valid_id(&far) && far > ids[49], "{far}");
        assert!(is_valid_id(&time_ordered_id(at("1960-01-01T00:00:00Z"))));
    }
}
