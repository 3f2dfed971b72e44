//! `GET /api/changes/stats`: how many changes, by verdict, kind, author, collection and ISO
//! week (`2026-W47`, of the change's UTC time), over every change the caller may read; and
//! the time from proposal to apply of the applied proposals (`proposalToApply`: how many,
//! the median and the longest, in seconds).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime};
use keel_core::Error;
use keel_data::RecordData;
use serde_json::{json, Value};

use super::may_read;
use crate::caller::Caller;
use crate::App;

/// The counts, as the API answers them.
pub async fn stats(app: &App, caller: &Caller) -> Result<Value, Error> {
    may_read(caller)?;
    let rows = app.store.change_summaries(caller.is_superuser()).await?;
    Ok(count(&rows))
}

/// A stored time (`2026-11-20 10:00:00.000Z`).
fn parse_time(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%d %H:%M:%S%.f").ok()
}

/// Seconds from a proposal (`created`) to its apply (`review.applied.at`), for changes that
/// came through review.
fn proposal_to_apply(r: &RecordData) -> Option<i64> {
    if r.get("source").and_then(Value::as_str) != Some("review") {
        return None;
    }
    let created = parse_time(r.get("created")?.as_str()?)?;
    let applied = parse_time(r.get("review")?.get("applied")?.get("at")?.as_str()?)?;
    Some((applied - created).num_seconds().max(0))
}

/// `{count, p50Seconds, maxSeconds}` of `durations` (`null`s when there is none).
fn durations_json(mut durations: Vec<i64>) -> Value {
    durations.sort_unstable();
    let n = durations.len();
    json!({
        "count": n,
        "p50Seconds": if n == 0 { Value::Null } else { Value::from(durations[(n - 1) / 2]) },
        "maxSeconds": durations.last().copied().map_or(Value::Null, Value::from),
    })
}

/// The ISO week of a stored time (`2026-11-20 10:00:00.000Z`), `unknown` when unreadable.
pub fn iso_week(created: &str) -> String {
    let text = created.trim_end_matches('Z');
    match NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        Ok(t) => {
            let w = t.date().iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        Err(_) => "unknown".into(),
    }
}

fn count(rows: &[RecordData]) -> Value {
    let mut by: [BTreeMap<String, u64>; 5] = Default::default();
    let text = |r: &RecordData, k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    for r in rows {
        let keys = [
            text(r, "verdict"),
            text(r, "kind"),
            text(r, "author"),
            text(r, "collection"),
            iso_week(&text(r, "created")),
        ];
        for (map, key) in by.iter_mut().zip(keys) {
            *map.entry(key).or_default() += 1;
        }
    }
    let [verdict, kind, author, collection, week] = by;
    let waits = rows.iter().filter_map(proposal_to_apply).collect();
    // Collections are counted under the name each change had (a rename starts a new key).
    json!({
        "total": rows.len(),
        "byVerdict": verdict,
        "byKind": kind,
        "byAuthor": author,
        "byCollection": collection,
        "byWeek": week,
        "proposalToApply": durations_json(waits),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_iso_weeks_across_the_year_end() {
        assert_eq!(iso_week("2026-11-20 10:00:00.000Z"), "2026-W47");
        // 2027-01-01 is a Friday: ISO week 53 of 2026.
        assert_eq!(iso_week("2027-01-01 00:00:00.000Z"), "2026-W53");
        assert_eq!(iso_week("nonsense"), "unknown");
    }

    #[test]
    fn counts_by_each_key() {
        let row = |verdict: &str, author: &str, collection: &str| {
            let mut r = RecordData::new();
            r.insert("verdict".into(), verdict.into());
            r.insert("kind".into(), "update".into());
            r.insert("author".into(), author.into());
            r.insert("collection".into(), collection.into());
            r.insert("created".into(), "2026-11-20 10:00:00.000Z".into());
            r
        };
        let v = count(&[
            row("major", "a", "posts"),
            row("minor", "a", "posts"),
            row("major", "b", "tags"),
        ]);
        assert_eq!(v["total"], 3);
        assert_eq!(v["byVerdict"], json!({"major": 2, "minor": 1}));
        assert_eq!(v["byAuthor"], json!({"a": 2, "b": 1}));
        assert_eq!(v["byCollection"], json!({"posts": 2, "tags": 1}));
        assert_eq!(v["byWeek"], json!({"2026-W47": 3}));
        assert_eq!(v["byKind"], json!({"update": 3}));
        assert_eq!(
            v["proposalToApply"],
            json!({"count": 0, "p50Seconds": null, "maxSeconds": null})
        );
    }

    #[test]
    fn time_from_proposal_to_apply() {
        let reviewed = |created: &str, applied: &str| {
            let mut r = RecordData::new();
            r.insert("source".into(), "review".into());
            r.insert("created".into(), created.into());
            r.insert("review".into(), json!({"applied": {"by": "x", "at": applied}}));
            r
        };
        let mut direct = reviewed("2026-11-20 10:00:00.000Z", "2026-11-20 11:00:00.000Z");
        direct.insert("source".into(), "api".into());
        let v = count(&[
            reviewed("2026-11-20 10:00:00.000Z", "2026-11-20 10:01:00.000Z"),
            reviewed("2026-11-20 10:00:00.000Z", "2026-11-20 12:00:00.000Z"),
            reviewed("2026-11-20 10:00:00.000Z", "2026-11-20 10:10:00.000Z"),
            direct,
        ]);
        assert_eq!(
            v["proposalToApply"],
            json!({"count": 3, "p50Seconds": 600, "maxSeconds": 7200})
        );
    }
}
