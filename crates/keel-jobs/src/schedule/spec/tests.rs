//! Tests of the schedule specification: parsing, intervals, DST, catch-up decisions.

use super::*;
use serde_json::json;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
        .with_timezone(&Utc)
}

fn times(v: &[&str]) -> Vec<DateTime<Utc>> {
    v.iter().map(|s| t(s)).collect()
}

fn spec(v: Value) -> Spec {
    Spec::from_json(&v).unwrap_or_else(|e| panic!("{v} refused: {e}"))
}

fn cron(expr: &str, tz: &str) -> Spec {
    spec(json!({"cron": expr, "timezone": tz}))
}

fn err(v: Value) -> SpecError {
    match Spec::from_json(&v) {
        Ok(s) => panic!("{v} accepted as {s:?}"),
        Err(e) => e,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// Any created_at: cron and one-shot specs ignore it.
const EPOCH: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

// ---------------------------------------------------------------- parsing

#[test]
fn five_fields_is_minute_precision() {
    let s = cron("0 9 * * 1-5", "UTC");
    // 2026-01-02 is a Friday.
    assert_eq!(
        s.upcoming(t("2026-01-02T10:00:00Z"), EPOCH, 3),
        times(&["2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z", "2026-01-07T09:00:00Z"])
    );
}

#[test]
fn six_fields_put_seconds_first() {
    let s = cron("30 0 9 * * 1-5", "UTC");
    assert_eq!(
        s.next_after(t("2026-01-05T09:00:00Z"), EPOCH),
        Some(t("2026-01-05T09:00:30Z"))
    );
    let s = cron("*/10 * * * * *", "UTC");
    assert_eq!(
        s.upcoming(t("2026-01-05T12:00:05Z"), EPOCH, 3),
        times(&["2026-01-05T12:00:10Z", "2026-01-05T12:00:20Z", "2026-01-05T12:00:30Z"])
    );
}

#[test]
fn cron_ticks_are_strictly_after_and_at_or_before() {
    let s = cron("0 9 * * *", "UTC");
    let nine = t("2026-01-05T09:00:00Z");
    assert_eq!(s.next_after(nine, EPOCH), Some(t("2026-01-06T09:00:00Z")));
    assert_eq!(
        s.next_after(t("2026-01-05T09:00:00.5Z"), EPOCH),
        Some(t("2026-01-06T09:00:00Z"))
    );
    assert_eq!(s.next_after(t("2026-01-05T08:59:59.5Z"), EPOCH), Some(nine));
    assert_eq!(s.latest_due(t("2026-01-05T00:00:00Z"), nine, EPOCH), Some(nine));
    assert_eq!(
        s.latest_due(t("2026-01-05T00:00:00Z"), t("2026-01-05T08:59:59.999Z"), EPOCH),
        None
    );
    assert_eq!(s.latest_due(nine, t("2026-01-05T23:00:00Z"), EPOCH), None);
    assert_eq!(s.latest_due(t("2026-01-06T00:00:00Z"), nine, EPOCH), None);
}

#[test]
fn timezone_defaults_to_utc_and_is_applied() {
    let s = spec(json!({"cron": "0 9 * * *"}));
    assert!(matches!(&s, Spec::Cron { tz, .. } if *tz == Tz::UTC));
    let paris = cron("0 9 * * *", "Europe/Paris");
    // CEST in June: 09:00 local = 07:00Z.
    assert_eq!(
        paris.next_after(t("2026-06-15T00:00:00Z"), EPOCH),
        Some(t("2026-06-15T07:00:00Z"))
    );
    let nick = cron("@daily", "UTC");
    assert_eq!(
        nick.next_after(t("2026-06-15T00:00:00Z"), EPOCH),
        Some(t("2026-06-16T00:00:00Z"))
    );
}

#[test]
fn invalid_cron_names_the_field() {
    let e = err(json!({"cron": "61 * * * *"}));
    assert_eq!(e.field, "cron");
    assert!(e.message.contains("minute field \"61\""), "{e}");
    assert!(e.message.contains("0-59"), "{e}");

    let e = err(json!({"cron": "0 9 32 * *"}));
    assert_eq!(e.field, "cron");
    assert!(e.message.contains("day-of-month field \"32\""), "{e}");

    let e = err(json!({"cron": "0 0 25 * * *"}));
    assert!(e.message.contains("hour field \"25\""), "{e}");
    let e = err(json!({"cron": "0 0 9 * * MON-FRX"}));
    assert!(e.message.contains("day-of-week field"), "{e}");
    let e = err(json!({"cron": "a b c d e"}));
    assert!(e.message.contains("minute field \"a\""), "{e}");
}

#[test]
fn invalid_cron_shapes() {
    for (expr, needle) in [
        ("* * *", "it has 3 fields"),
        ("0 0 0 1 1 * 2026", "it has 7 fields"),
        ("", "empty"),
        ("   ", "empty"),
        ("@often", "unknown nickname"),
        ("0 0 30 2 *", "matches no date"),
    ] {
        let e = err(json!({"cron": expr}));
        assert_eq!(e.field, "cron", "{expr}");
        assert!(e.message.contains(needle), "{expr}: {e}");
    }
    let e = err(json!({"cron": 5}));
    assert_eq!(e.field, "cron");
    assert!(e.message.contains("must be a string"), "{e}");
}

#[test]
fn unknown_time_zone() {
    let e = err(json!({"cron": "0 9 * * *", "timezone": "Europe/Pariss"}));
    assert_eq!(e.field, "timezone");
    assert_eq!(
        e.message,
        "unknown time zone \"Europe/Pariss\": use an IANA name such as Europe/Paris"
    );
    let e = err(json!({"cron": "0 9 * * *", "timezone": "europe/paris"}));
    assert_eq!(e.field, "timezone");
    assert!(e.message.contains("did you mean \"Europe/Paris\""), "{e}");
    let e = err(json!({"cron": "0 9 * * *", "timezone": ""}));
    assert_eq!(e.field, "timezone");
    let e = err(json!({"cron": "0 9 * * *", "timezone": 1}));
    assert_eq!(e.field, "timezone");
}

#[test]
fn every_accepts_humantime_like_intervals() {
    for (text, n) in [
        ("1s", 1),
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86_400),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("1d2h3m4s", 93_784),
        ("90m", 5400),
        ("366d", 366 * 86_400),
    ] {
        assert_eq!(parse_every(text), Ok(secs(n)), "{text}");
    }
    assert_eq!(format_every(secs(5400)), "1h30m");
    assert_eq!(format_every(secs(93_784)), "1d2h3m4s");
    assert_eq!(format_every(secs(86_400)), "1d");
}

#[test]
fn every_refuses_bad_intervals() {
    for (text, needle) in [
        ("0s", "too short"),
        ("0m", "too short"),
        ("-5m", "negative"),
        ("abc", "not a duration"),
        ("400d", "too long"),
        ("367d", "too long"),
        ("15", "no unit"),
        ("5x", "unknown unit \"x\""),
        ("5ms", "unknown unit \"ms\""),
        ("30m1h", "smaller one first"),
        ("1h1h", "repeats"),
        ("", "empty"),
        ("99999999999999999999d", "too long"),
    ] {
        let e = err(json!({"every": text}));
        assert_eq!(e.field, "every", "{text}");
        assert!(e.message.contains(needle), "{text}: {e}");
    }
    assert_eq!(err(json!({"every": 900})).field, "every");
    assert!(Spec::every(Duration::ZERO, None).is_err());
    assert!(Spec::every(Duration::from_millis(1500), None).is_err());
    assert!(Spec::every(secs(60), None).is_ok());
}

#[test]
fn conflicting_unknown_and_missing_keys() {
    let e = err(json!({"cron": "0 9 * * *", "at": "2026-12-01T09:00:00Z"}));
    assert_eq!(e.field, "spec");
    assert!(e.message.contains("\"cron\" and \"at\""), "{e}");
    let e = err(json!({"every": "5m", "at": "2026-12-01T09:00:00Z", "cron": "* * * * *"}));
    assert_eq!(e.field, "spec");

    let e = err(json!({"cron": "0 9 * * *", "tz": "UTC"}));
    assert_eq!(e.field, "spec");
    assert!(e.message.contains("unknown key \"tz\""), "{e}");

    let e = err(json!({"every": "5m", "timezone": "UTC"}));
    assert_eq!(e.field, "spec");
    assert!(e.message.contains("\"timezone\" cannot be used with \"every\""), "{e}");
    let e = err(json!({"cron": "0 9 * * *", "anchor": "2026-01-01T00:00:00Z"}));
    assert_eq!(e.field, "spec");
    let e = err(json!({"at": "2026-12-01T09:00:00Z", "timezone": "UTC"}));
    assert_eq!(e.field, "spec");

    assert_eq!(err(json!({})).field, "spec");
    assert_eq!(err(json!({"timezone": "UTC"})).field, "spec");
    assert_eq!(err(json!("0 9 * * *")).field, "spec");
    assert_eq!(err(json!(null)).field, "spec");

    let e = err(json!({"at": "tomorrow"}));
    assert_eq!(e.field, "at");
    let e = err(json!({"every": "5m", "anchor": "2026-13-01T00:00:00Z"}));
    assert_eq!(e.field, "anchor");
    // null optional keys are absent keys
    assert_eq!(
        spec(json!({"every": "5m", "anchor": null})),
        Spec::Every {
            every: secs(300),
            anchor: None
        }
    );
}

#[test]
fn round_trips() {
    let cases = [
        json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}),
        json!({"cron": "30 0 9 * * MON-FRI", "timezone": "UTC"}),
        json!({"cron": "30 1,13 * * *", "timezone": "America/New_York"}),
        json!({"every": "1h30m"}),
        json!({"every": "15m", "anchor": "2026-01-01T00:00:00Z"}),
        json!({"every": "1d", "anchor": "2026-01-01T00:00:00.250Z"}),
        json!({"at": "2026-12-01T09:00:00Z"}),
    ];
    for v in cases {
        let s = spec(v.clone());
        assert_eq!(s.to_json(), v, "to_json of {v}");
        assert_eq!(spec(s.to_json()), s, "from_json(to_json) of {v}");
    }
    // Non-canonical input round-trips to an equal spec.
    let s = spec(json!({"cron": " 0 9 * * * "}));
    assert_eq!(s.to_json(), json!({"cron": "0 9 * * *", "timezone": "UTC"}));
    let s = spec(json!({"every": "90m", "anchor": "2026-01-01T01:00:00+01:00"}));
    assert_eq!(s.to_json(), json!({"every": "1h30m", "anchor": "2026-01-01T00:00:00Z"}));
    assert_eq!(spec(s.to_json()), s);
}

// ---------------------------------------------------------- daylight saving

#[test]
fn new_york_spring_forward_fires_after_the_gap() {
    // 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 does not exist.
    let s = cron("30 2 * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-03-06T12:00:00Z"), EPOCH, 4),
        times(&[
            "2026-03-07T07:30:00Z", // 02:30 EST
            "2026-03-08T07:00:00Z", // 03:00 EDT, first valid time after the gap
            "2026-03-09T06:30:00Z", // 02:30 EDT
            "2026-03-10T06:30:00Z",
        ])
    );
    let s = cron("15 30 2 * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-03-07T12:00:00Z"), EPOCH, 2),
        times(&["2026-03-08T07:00:00Z", "2026-03-09T06:30:15Z"])
    );
}

#[test]
fn new_york_fall_back_fires_once() {
    // 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice.
    let s = cron("30 1 * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-10-30T12:00:00Z"), EPOCH, 4),
        times(&[
            "2026-10-31T05:30:00Z", // 01:30 EDT
            "2026-11-01T05:30:00Z", // first 01:30 (EDT); not again at 06:30Z (EST)
            "2026-11-02T06:30:00Z", // 01:30 EST
            "2026-11-03T06:30:00Z",
        ])
    );
    // From inside the repeated hour, the second 01:30 is not a tick.
    assert_eq!(
        s.next_after(t("2026-11-01T06:10:00Z"), EPOCH),
        Some(t("2026-11-02T06:30:00Z"))
    );
    assert_eq!(
        s.latest_due(t("2026-11-01T00:00:00Z"), t("2026-11-01T07:00:00Z"), EPOCH),
        Some(t("2026-11-01T05:30:00Z"))
    );
}

#[test]
fn london_transitions() {
    // 2026-03-29 01:00 GMT -> 02:00 BST.
    let s = cron("30 1 * * *", "Europe/London");
    assert_eq!(
        s.upcoming(t("2026-03-27T12:00:00Z"), EPOCH, 4),
        times(&[
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z", // 02:00 BST
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z",
        ])
    );
    // 2026-10-25 02:00 BST -> 01:00 GMT.
    assert_eq!(
        s.upcoming(t("2026-10-23T12:00:00Z"), EPOCH, 4),
        times(&[
            "2026-10-24T00:30:00Z",
            "2026-10-25T00:30:00Z", // first 01:30 (BST) only
            "2026-10-26T01:30:00Z",
            "2026-10-27T01:30:00Z",
        ])
    );
}

#[test]
fn lists_of_explicit_times_get_the_same_dst_treatment() {
    // croner alone fires 01:30 twice and 02:30 never here; the split fixes it.
    let s = cron("30 1,13 * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-10-31T00:00:00Z"), EPOCH, 5),
        times(&[
            "2026-10-31T05:30:00Z",
            "2026-10-31T17:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T18:30:00Z",
            "2026-11-02T06:30:00Z",
        ])
    );
    let s = cron("30 2,14 * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-03-07T00:00:00Z"), EPOCH, 5),
        times(&[
            "2026-03-07T07:30:00Z",
            "2026-03-07T19:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T18:30:00Z",
            "2026-03-09T06:30:00Z",
        ])
    );
    // 02:00 moves to 03:00 EDT, where 03:00 also fires: one tick.
    let s = cron("0 1-3 * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-03-08T00:00:00Z"), EPOCH, 5),
        times(&[
            "2026-03-08T06:00:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-09T05:00:00Z",
            "2026-03-09T06:00:00Z",
            "2026-03-09T07:00:00Z",
        ])
    );
    assert_eq!(
        s.upcoming(t("2026-11-01T00:00:00Z"), EPOCH, 4),
        times(&[
            "2026-11-01T05:00:00Z", // 01:00 EDT
            "2026-11-01T07:00:00Z", // 02:00 EST
            "2026-11-01T08:00:00Z", // 03:00 EST
            "2026-11-02T06:00:00Z",
        ])
    );
}

#[test]
fn wildcard_and_step_times_follow_real_time() {
    let s = cron("*/30 1 * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-11-01T04:00:00Z"), EPOCH, 5),
        times(&[
            "2026-11-01T05:00:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-02T06:00:00Z",
        ])
    );
    let s = cron("*/30 2 * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-03-07T12:00:00Z"), EPOCH, 2),
        times(&["2026-03-09T06:00:00Z", "2026-03-09T06:30:00Z"])
    );
    let s = cron("0 * * * *", "America/New_York");
    assert_eq!(
        s.upcoming(t("2026-03-08T05:30:00Z"), EPOCH, 3),
        times(&["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"])
    );
}

/// `latest_due` (backward search) and `next_after` agree with the forward
/// list of ticks at every probe time around each transition.
#[test]
fn backward_and_forward_searches_agree_around_transitions() {
    let windows = [
        ("America/New_York", "2026-03-07T00:00:00Z"),
        ("America/New_York", "2026-10-31T00:00:00Z"),
        ("Europe/London", "2026-03-28T00:00:00Z"),
        ("Europe/London", "2026-10-24T00:00:00Z"),
    ];
    let patterns = [
        "30 2 * * *",
        "30 1 * * *",
        "0 1-3 * * *",
        "30 1,2,13 * * *",
        "15 30 2 * * *",
        "*/20 1-2 * * *",
        "0 * * * *",
    ];
    for (zone, start) in windows {
        let start = t(start);
        let end = start + TimeDelta::days(3);
        for expr in patterns {
            let s = cron(expr, zone);
            let mut ticks = Vec::new();
            let mut from = start;
            while let Some(x) = s.next_after(from, EPOCH) {
                if x > end {
                    break;
                }
                ticks.push(x);
                from = x;
            }
            assert!(!ticks.is_empty(), "{expr} {zone}");
            assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{expr} {zone}: {ticks:?}");
            let mut probes: Vec<DateTime<Utc>> = (0..)
                .map(|i| start + TimeDelta::minutes(13 * i))
                .take_while(|p| *p <= end)
                .collect();
            for x in &ticks {
                probes.extend([*x - TimeDelta::seconds(1), *x, *x + TimeDelta::seconds(1)]);
            }
            for now in probes {
                let want = ticks.iter().rev().find(|x| **x <= now).copied();
                assert_eq!(
                    s.latest_due(start, now, EPOCH),
                    want,
                    "{expr} {zone} latest_due at {now}"
                );
                if let Some(next) = ticks.iter().find(|x| **x > now) {
                    assert_eq!(s.next_after(now, EPOCH), Some(*next), "{expr} {zone} next_after {now}");
                }
            }
        }
    }
}

// -------------------------------------------------------------- intervals

#[test]
fn every_with_anchor() {
    let s = spec(json!({"every": "15m", "anchor": "2026-01-01T00:00:00Z"}));
    let created = t("2026-05-05T05:05:05Z"); // ignored: there is an anchor
    assert_eq!(
        s.next_after(t("2026-01-01T00:20:00Z"), created),
        Some(t("2026-01-01T00:30:00Z"))
    );
    assert_eq!(
        s.next_after(t("2026-01-01T00:30:00Z"), created),
        Some(t("2026-01-01T00:45:00Z"))
    );
    assert_eq!(
        s.upcoming(t("2026-03-01T10:07:00Z"), created, 5),
        times(&[
            "2026-03-01T10:15:00Z",
            "2026-03-01T10:30:00Z",
            "2026-03-01T10:45:00Z",
            "2026-03-01T11:00:00Z",
            "2026-03-01T11:15:00Z",
        ])
    );
    // Before the anchor: the anchor is the first tick.
    assert_eq!(
        s.next_after(t("2025-12-31T00:00:00Z"), created),
        Some(t("2026-01-01T00:00:00Z"))
    );
    assert_eq!(
        s.latest_due(t("2025-01-01T00:00:00Z"), t("2025-12-31T23:59:59Z"), created),
        None
    );
    assert_eq!(
        s.latest_due(t("2025-01-01T00:00:00Z"), t("2026-01-01T00:00:00Z"), created),
        Some(t("2026-01-01T00:00:00Z"))
    );
    // A tick exactly at `now` is due; exactly at `after` is not.
    assert_eq!(
        s.latest_due(t("2026-01-01T00:00:00Z"), t("2026-01-01T00:15:00Z"), created),
        Some(t("2026-01-01T00:15:00Z"))
    );
    assert_eq!(
        s.latest_due(t("2026-01-01T00:15:00Z"), t("2026-01-01T00:29:59Z"), created),
        None
    );
}

#[test]
fn every_without_anchor_counts_from_creation() {
    let s = spec(json!({"every": "1h"}));
    let created = t("2026-01-01T10:07:13.5Z");
    assert_eq!(
        s.upcoming(created, created, 3),
        times(&[
            "2026-01-01T11:07:13.5Z",
            "2026-01-01T12:07:13.5Z",
            "2026-01-01T13:07:13.5Z"
        ])
    );
    assert_eq!(
        s.latest_due(created, t("2026-01-01T12:30:00Z"), created),
        Some(t("2026-01-01T12:07:13.5Z"))
    );
    assert_eq!(s.latest_due(created, t("2026-01-01T11:07:13Z"), created), None);
}

#[test]
fn interval_due_is_arithmetic_even_from_long_ago() {
    let s = spec(json!({"every": "1s", "anchor": "1970-01-01T00:00:00Z"}));
    let now = t("2026-06-15T12:34:56.789Z");
    assert_eq!(s.latest_due(EPOCH, now, EPOCH), Some(t("2026-06-15T12:34:56Z")));
    assert_eq!(s.next_after(now, EPOCH), Some(t("2026-06-15T12:34:57Z")));
    let s = cron("0 9 * * *", "Europe/Paris");
    assert_eq!(
        s.latest_due(t("1970-01-01T00:00:00Z"), now, EPOCH),
        Some(t("2026-06-15T07:00:00Z"))
    );
    assert_eq!(
        s.latest_due(t("1970-01-01T00:00:00Z"), t("2026-06-15T06:59:59Z"), EPOCH),
        Some(t("2026-06-14T07:00:00Z"))
    );
}

#[test]
fn hand_built_zero_interval_never_fires() {
    let s = Spec::Every {
        every: Duration::ZERO,
        anchor: None,
    };
    assert_eq!(s.next_after(EPOCH, EPOCH), None);
    assert!(s.upcoming(EPOCH, EPOCH, 5).is_empty());
    assert_eq!(s.latest_due(EPOCH, t("2026-01-01T00:00:00Z"), EPOCH), None);
}

// -------------------------------------------------------------- one shot

#[test]
fn at_fires_once() {
    let s = spec(json!({"at": "2026-12-01T09:00:00Z"}));
    let at = t("2026-12-01T09:00:00Z");
    assert_eq!(s.next_after(t("2026-11-30T00:00:00Z"), EPOCH), Some(at));
    assert_eq!(s.next_after(at, EPOCH), None);
    assert_eq!(s.next_after(t("2027-01-01T00:00:00Z"), EPOCH), None);
    assert_eq!(s.upcoming(t("2026-11-30T00:00:00Z"), EPOCH, 5), vec![at]);
    assert!(s.upcoming(at, EPOCH, 5).is_empty());
    assert_eq!(
        s.latest_due(t("2026-11-30T00:00:00Z"), t("2027-01-01T00:00:00Z"), EPOCH),
        Some(at)
    );
    assert_eq!(s.latest_due(at, t("2027-01-01T00:00:00Z"), EPOCH), None);
    assert_eq!(
        s.latest_due(t("2026-11-30T00:00:00Z"), t("2026-12-01T08:59:59Z"), EPOCH),
        None
    );
}

#[test]
fn upcoming_is_capped() {
    let s = spec(json!({"every": "1m", "anchor": "2026-01-01T00:00:00Z"}));
    let v = s.upcoming(t("2026-01-01T00:00:00Z"), EPOCH, 1000);
    assert_eq!(v.len(), MAX_UPCOMING);
    assert_eq!(v[99], t("2026-01-01T01:40:00Z"));
    assert!(s.upcoming(t("2026-01-01T00:00:00Z"), EPOCH, 0).is_empty());
    let s = cron("*/5 * * * *", "UTC");
    let v = s.upcoming(t("2026-01-01T00:00:00Z"), EPOCH, 1000);
    assert_eq!(v.len(), MAX_UPCOMING);
    assert_eq!(v[99], t("2026-01-01T08:20:00Z"));
}

// ---------------------------------------------------------------- decide

#[test]
fn decide_on_time_fires() {
    let s = spec(json!({"every": "1m", "anchor": "2026-01-01T10:00:00Z"}));
    let d = decide(
        &s,
        Some(t("2026-01-01T10:04:00Z")),
        EPOCH,
        t("2026-01-01T10:05:10Z"),
        Catchup::Skip,
        secs(30),
    );
    assert_eq!(d, Decision::Fire(t("2026-01-01T10:05:00Z")));
}

#[test]
fn decide_fires_only_the_latest_of_several_ticks_within_grace() {
    let s = spec(json!({"every": "1m", "anchor": "2026-01-01T10:00:00Z"}));
    for catchup in [Catchup::Skip, Catchup::RunOnce] {
        let d = decide(
            &s,
            Some(t("2026-01-01T10:00:00Z")),
            EPOCH,
            t("2026-01-01T10:05:10Z"),
            catchup,
            secs(600),
        );
        assert_eq!(d, Decision::Fire(t("2026-01-01T10:05:00Z")));
    }
}

#[test]
fn decide_missed_ticks() {
    let s = cron("0 * * * *", "UTC");
    let last = Some(t("2026-01-01T10:00:00Z"));
    let now = t("2026-01-01T13:00:30Z");
    assert_eq!(
        decide(&s, last, EPOCH, now, Catchup::Skip, secs(10)),
        Decision::SkipTo(t("2026-01-01T13:00:00Z"))
    );
    assert_eq!(
        decide(&s, last, EPOCH, now, Catchup::RunOnce, secs(10)),
        Decision::Fire(t("2026-01-01T13:00:00Z"))
    );
    // Exactly at the grace limit is still on time.
    assert_eq!(
        decide(&s, last, EPOCH, now, Catchup::Skip, secs(30)),
        Decision::Fire(t("2026-01-01T13:00:00Z"))
    );
    // After recording the tick, nothing is due until the next one.
    let last = Some(t("2026-01-01T13:00:00Z"));
    assert_eq!(decide(&s, last, EPOCH, now, Catchup::RunOnce, secs(10)), Decision::Wait);
    assert_eq!(
        decide(&s, last, EPOCH, t("2026-01-01T13:59:59Z"), Catchup::Skip, secs(10)),
        Decision::Wait
    );
}

#[test]
fn decide_never_fired_counts_from_creation() {
    let s = spec(json!({"every": "1m"}));
    let created = t("2026-01-01T10:00:30Z");
    assert_eq!(
        decide(&s, None, created, t("2026-01-01T10:01:00Z"), Catchup::Skip, secs(5)),
        Decision::Wait
    );
    assert_eq!(
        decide(&s, None, created, t("2026-01-01T10:01:31Z"), Catchup::Skip, secs(5)),
        Decision::Fire(t("2026-01-01T10:01:30Z"))
    );
    let c = cron("0 12 * * *", "UTC");
    // Created after today's noon: no tick is due yet.
    assert_eq!(
        decide(
            &c,
            None,
            t("2026-01-01T12:30:00Z"),
            t("2026-01-01T18:00:00Z"),
            Catchup::RunOnce,
            secs(60)
        ),
        Decision::Wait
    );
    // Created before noon, first looked at long after: missed.
    assert_eq!(
        decide(
            &c,
            None,
            t("2026-01-01T11:00:00Z"),
            t("2026-01-01T18:00:00Z"),
            Catchup::Skip,
            secs(60)
        ),
        Decision::SkipTo(t("2026-01-01T12:00:00Z"))
    );
}

#[test]
fn decide_one_shot_fires_once_then_waits_forever() {
    let s = spec(json!({"at": "2026-12-01T09:00:00Z"}));
    let at = t("2026-12-01T09:00:00Z");
    let created = t("2026-11-01T00:00:00Z");
    let g = secs(60);
    assert_eq!(
        decide(&s, None, created, t("2026-12-01T08:59:59Z"), Catchup::Skip, g),
        Decision::Wait
    );
    assert_eq!(
        decide(&s, None, created, t("2026-12-01T09:00:05Z"), Catchup::Skip, g),
        Decision::Fire(at)
    );
    for now in ["2026-12-01T09:00:05Z", "2026-12-02T00:00:00Z", "2100-01-01T00:00:00Z"] {
        for c in [Catchup::Skip, Catchup::RunOnce] {
            assert_eq!(decide(&s, Some(at), created, t(now), c, g), Decision::Wait, "{now}");
        }
    }
    // Missed by a process that was down: policy decides.
    let late = t("2026-12-03T00:00:00Z");
    assert_eq!(decide(&s, None, created, late, Catchup::RunOnce, g), Decision::Fire(at));
    assert_eq!(decide(&s, None, created, late, Catchup::Skip, g), Decision::SkipTo(at));
}

// ---------------------------------------------------------------- misc

#[test]
fn catchup_json_names() {
    assert_eq!(Catchup::default(), Catchup::Skip);
    assert_eq!(serde_json::to_value(Catchup::RunOnce).ok(), Some(json!("runOnce")));
    assert_eq!(serde_json::to_value(Catchup::Skip).ok(), Some(json!("skip")));
    assert_eq!(
        serde_json::from_value::<Catchup>(json!("runOnce")).ok(),
        Some(Catchup::RunOnce)
    );
    assert!(serde_json::from_value::<Catchup>(json!("run_once")).is_err());
    assert_eq!("skip".parse::<Catchup>(), Ok(Catchup::Skip));
    assert_eq!(Catchup::RunOnce.as_str(), "runOnce");
    let e = "always".parse::<Catchup>().err();
    assert_eq!(e.map(|e| e.field), Some("catchup"));
}

#[test]
fn error_display() {
    let e = SpecError::new("every", "x");
    assert_eq!(e.to_string(), "every: x");
}
