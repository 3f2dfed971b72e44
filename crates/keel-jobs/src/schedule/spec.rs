//! Schedule specification of the Schedules service: *when* a schedule fires.
//!
//! A [`Spec`] is one of
//!
//! * `{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}`: a cron expression
//!   evaluated on the wall clock of an IANA time zone (default `"UTC"`). Five
//!   fields are minute precision (`minute hour day-of-month month
//!   day-of-week`); six fields put seconds first. `@yearly`, `@annually`,
//!   `@monthly`, `@weekly`, `@daily` and `@hourly` are accepted too, as are
//!   `L`, `W` and `#` in the day fields. Day-of-month and day-of-week combine
//!   with OR, as in Vixie cron.
//! * `{"every": "15m", "anchor": "2026-01-01T00:00:00Z"}`: a fixed interval
//!   (`s`, `m`, `h`, `d`, largest unit first, e.g. `"1h30m"`; from 1s to
//!   366d). Ticks are `anchor + k * every` for `k >= 0`; without an anchor the
//!   schedule's creation time is the anchor, so the first tick is one interval
//!   after creation. An anchor in the future fires first at the anchor itself.
//! * `{"at": "2026-12-01T09:00:00Z"}`: one shot.
//!
//! # Daylight saving time
//!
//! Cron times are wall-clock times in the schedule's zone. What happens when
//! the clock jumps depends on whether the expression names explicit times of
//! day (no `*` and no `/` step in the second, minute and hour fields, e.g.
//! `30 2 * * *` or `0 30 1,13 * * *`) or recurs through a wildcard or step
//! (`*/15 * * * *`, `0 * * * *`, `* 2 * * *`):
//!
//! * explicit times fire **once** per day and time: a time in the hour the
//!   clock repeats (fall-back) fires at its first occurrence only; a time in
//!   the hour that is skipped (spring-forward) fires at the first valid
//!   instant after the gap (e.g. 03:00 local). Two skipped times that land on
//!   the same instant fire once.
//! * wildcard or stepped times follow real time: they fire at every instant
//!   whose local time matches, so a repeated hour runs twice and a skipped
//!   hour does not run.
//!
//! `croner` 4 implements the first rule only for expressions with a *single*
//! explicit second, minute and hour; for lists and ranges (`30 1,13 * * *`) it
//! falls back to the second rule (01:30 would fire twice on fall-back day and
//! 02:30 not at all on spring-forward day). This module corrects that by
//! splitting such expressions into one single-time cron per explicit time of
//! day (up to [`MAX_WALL_CLOCK_TIMES`]; beyond that the expression is
//! treated as recurring) and merging their fire times.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most fire times [`Spec::upcoming`] returns.
pub const MAX_UPCOMING: usize = 100;
/// The shortest interval for `every`.
pub const MIN_EVERY: Duration = Duration::from_secs(1);
/// The longest interval for `every` (366 days).
pub const MAX_EVERY: Duration = Duration::from_secs(366 * 86_400);
/// Cron expressions with at most this many explicit times of day get the
/// "fire once" daylight-saving treatment (see the module docs).
pub const MAX_WALL_CLOCK_TIMES: usize = 64;

const KEYS_HELP: &str = "a schedule spec is one of {\"cron\": \"0 9 * * 1-5\", \"timezone\": \"Europe/Paris\"}, {\"every\": \"15m\", \"anchor\": \"2026-01-01T00:00:00Z\"} or {\"at\": \"2026-12-01T09:00:00Z\"}";
const CRON_HELP: &str = "use 5 fields (minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1-5\") or 6 with seconds first (e.g. \"30 0 9 * * 1-5\")";
const EVERY_HELP: &str =
    "use a number and a unit (s, m, h, d), largest unit first, e.g. \"30s\", \"15m\", \"1h30m\", \"1d\"";

/// An invalid schedule spec: which JSON field is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// `"cron"`, `"timezone"`, `"every"`, `"anchor"`, `"at"`, `"catchup"` or
    /// `"spec"` (the object as a whole: missing, unknown or conflicting keys).
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SpecError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        SpecError {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for SpecError {}

/// When a schedule fires. Build it with [`Spec::from_json`], [`Spec::cron`],
/// [`Spec::every`] or [`Spec::once`]; serialize it with [`Spec::to_json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A cron expression on the wall clock of `tz`.
    Cron {
        /// The expression as given (trimmed).
        expr: String,
        /// The zone whose wall clock the expression reads.
        tz: Tz,
        /// The parsed expression.
        schedule: CronSchedule,
    },
    /// Every `every`, counted from `anchor` (default: the creation time).
    Every {
        every: Duration,
        anchor: Option<DateTime<Utc>>,
    },
    /// Once, at `at`.
    Once { at: DateTime<Utc> },
}

/// A parsed cron expression (opaque; made by [`Spec::cron`] or
/// [`Spec::from_json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// One cron per explicit time of day when the expression was split for
    /// daylight saving (see the module docs), otherwise the expression itself.
    /// Never empty.
    parts: Vec<croner::Cron>,
}

impl Spec {
    /// A cron spec; `timezone` is an IANA name such as `"Europe/Paris"`.
    pub fn cron(expr: &str, timezone: &str) -> Result<Spec, SpecError> {
        let tz = parse_timezone(timezone)?;
        let expr = expr.trim();
        let schedule = parse_cron(expr)?;
        Ok(Spec::Cron {
            expr: expr.to_string(),
            tz,
            schedule,
        })
    }

    /// An interval spec; `every` must be whole seconds between [`MIN_EVERY`]
    /// and [`MAX_EVERY`].
    pub fn every(every: Duration, anchor: Option<DateTime<Utc>>) -> Result<Spec, SpecError> {
        check_every(every, &format_every(every))?;
        Ok(Spec::Every { every, anchor })
    }

    /// A one-shot spec.
    pub fn once(at: DateTime<Utc>) -> Spec {
        Spec::Once { at }
    }

    /// Parses the JSON form (see the module docs). Unknown keys, keys of
    /// another kind (`"timezone"` without `"cron"`, ...) and more than one of
    /// `cron`/`every`/`at` are refused.
    pub fn from_json(v: &Value) -> Result<Spec, SpecError> {
        let Some(obj) = v.as_object() else {
            return Err(SpecError::new(
                "spec",
                format!("expected a JSON object, got {}: {KEYS_HELP}", json_kind(v)),
            ));
        };
        for key in obj.keys() {
            if !["cron", "timezone", "every", "anchor", "at"].contains(&key.as_str()) {
                return Err(SpecError::new("spec", format!("unknown key \"{key}\": {KEYS_HELP}")));
            }
        }
        let kinds: Vec<&str> = ["cron", "every", "at"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        match kinds.as_slice() {
            [] => Err(SpecError::new(
                "spec",
                format!("missing \"cron\", \"every\" or \"at\": {KEYS_HELP}"),
            )),
            ["cron"] => {
                refuse_key(obj, "anchor", "cron", "\"anchor\" only applies to \"every\"")?;
                let expr = required_str(obj, "cron", "a cron expression such as \"0 9 * * 1-5\"")?;
                let tz = optional_str(obj, "timezone", "an IANA time zone such as \"Europe/Paris\"")?.unwrap_or("UTC");
                let tz = parse_timezone(tz)?;
                let expr = expr.trim();
                let schedule = parse_cron(expr)?;
                Ok(Spec::Cron {
                    expr: expr.to_string(),
                    tz,
                    schedule,
                })
            }
            ["every"] => {
                refuse_key(
                    obj,
                    "timezone",
                    "every",
                    "\"timezone\" only applies to \"cron\" (intervals are counted in real time)",
                )?;
                let every = parse_every(required_str(obj, "every", "an interval such as \"15m\"")?)?;
                let anchor = match optional_str(obj, "anchor", "an RFC 3339 time such as \"2026-01-01T00:00:00Z\"")? {
                    None => None,
                    Some(s) => Some(parse_time("anchor", s)?),
                };
                Ok(Spec::Every { every, anchor })
            }
            ["at"] => {
                refuse_key(
                    obj,
                    "timezone",
                    "at",
                    "\"timezone\" only applies to \"cron\": give \"at\" with its UTC offset, e.g. \"2026-12-01T09:00:00+01:00\"",
                )?;
                refuse_key(obj, "anchor", "at", "\"anchor\" only applies to \"every\"")?;
                let at = parse_time(
                    "at",
                    required_str(obj, "at", "an RFC 3339 time such as \"2026-12-01T09:00:00Z\"")?,
                )?;
                Ok(Spec::Once { at })
            }
            several => Err(SpecError::new(
                "spec",
                format!(
                    "give only one of \"cron\", \"every\" or \"at\", found {}",
                    several
                        .iter()
                        .map(|k| format!("\"{k}\""))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )),
        }
    }

    /// The JSON form; [`Spec::from_json`] reads it back to an equal spec.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        match self {
            Spec::Cron { expr, tz, .. } => {
                m.insert("cron".into(), Value::String(expr.clone()));
                m.insert("timezone".into(), Value::String(tz.name().to_string()));
            }
            Spec::Every { every, anchor } => {
                m.insert("every".into(), Value::String(format_every(*every)));
                if let Some(a) = anchor {
                    m.insert("anchor".into(), Value::String(format_time(*a)));
                }
            }
            Spec::Once { at } => {
                m.insert("at".into(), Value::String(format_time(*at)));
            }
        }
        Value::Object(m)
    }

    /// The first fire time strictly after `after`; `None` when there is none
    /// (a one-shot in the past, or a time past what the calendar supports).
    pub fn next_after(&self, after: DateTime<Utc>, created_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Spec::Cron { tz, schedule, .. } => schedule.next_after(*tz, after),
            Spec::Every { every, anchor } => Interval::new(*every, anchor.unwrap_or(created_at))?.next_after(after),
            Spec::Once { at } => (*at > after).then_some(*at),
        }
    }

    /// The next `n` fire times strictly after `after`, in order (at most
    /// [`MAX_UPCOMING`]; fewer when the schedule ends).
    pub fn upcoming(&self, after: DateTime<Utc>, created_at: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let n = n.min(MAX_UPCOMING);
        if n == 0 {
            return Vec::new();
        }
        match self {
            Spec::Cron { tz, schedule, .. } => schedule.upcoming(*tz, after, n),
            Spec::Every { every, anchor } => {
                let Some(interval) = Interval::new(*every, anchor.unwrap_or(created_at)) else {
                    return Vec::new();
                };
                let mut out = Vec::with_capacity(n);
                let mut t = interval.next_after(after);
                while let Some(x) = t {
                    out.push(x);
                    if out.len() == n {
                        break;
                    }
                    t = interval.next_after(x);
                }
                out
            }
            Spec::Once { at } => (*at > after).then_some(*at).into_iter().collect(),
        }
    }

    /// The latest fire time `t` with `after < t <= now` (the most recent tick
    /// that is due), or `None`. Constant work however old `after` is:
    /// intervals are computed arithmetically, cron searches backwards from
    /// `now` (one `croner` search per explicit time of day).
    pub fn latest_due(
        &self,
        after: DateTime<Utc>,
        now: DateTime<Utc>,
        created_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if now <= after {
            return None;
        }
        let t = match self {
            Spec::Cron { tz, schedule, .. } => schedule.latest_at_or_before(*tz, now),
            Spec::Every { every, anchor } => {
                Interval::new(*every, anchor.unwrap_or(created_at))?.latest_at_or_before(now)
            }
            Spec::Once { at } => (*at <= now).then_some(*at),
        }?;
        (t > after && t <= now).then_some(t)
    }
}

/// What to do about ticks that passed while no Keel process was running
/// (missed by more than the grace period). JSON: `"skip"` / `"runOnce"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Catchup {
    /// Mark the missed ticks handled without running them.
    #[default]
    Skip,
    /// Run once for all missed ticks (with the latest missed tick's time).
    RunOnce,
}

impl Catchup {
    /// The JSON name: `"skip"` or `"runOnce"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Catchup::Skip => "skip",
            Catchup::RunOnce => "runOnce",
        }
    }
}

impl FromStr for Catchup {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "skip" => Ok(Catchup::Skip),
            "runOnce" => Ok(Catchup::RunOnce),
            other => Err(SpecError::new(
                "catchup",
                format!("unknown catch-up policy \"{other}\": use \"skip\" or \"runOnce\""),
            )),
        }
    }
}

/// What the scheduler does now about one schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Fire the tick with this time (then record it as the last handled tick).
    Fire(DateTime<Utc>),
    /// Mark the ticks up to this time handled without firing.
    SkipTo(DateTime<Utc>),
    /// Nothing is due.
    Wait,
}

/// What the scheduler does at `now` for a schedule whose last handled tick is
/// `last` (`None`: never; ticks are then counted from `created_at`).
///
/// The latest due tick is fired when it is at most `grace` old (older ticks
/// that are also due are not fired separately: one pass fires a schedule at
/// most once). A tick missed by more than `grace` is fired with
/// [`Catchup::RunOnce`] and skipped with [`Catchup::Skip`].
pub fn decide(
    spec: &Spec,
    last: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    catchup: Catchup,
    grace: Duration,
) -> Decision {
    let Some(due) = spec.latest_due(last.unwrap_or(created_at), now, created_at) else {
        return Decision::Wait;
    };
    let grace = TimeDelta::from_std(grace).unwrap_or(TimeDelta::MAX);
    if now - due <= grace {
        return Decision::Fire(due);
    }
    match catchup {
        Catchup::Skip => Decision::SkipTo(due),
        Catchup::RunOnce => Decision::Fire(due),
    }
}

/// Parses an `every` interval such as `"15m"` or `"1h30m"` (whole seconds,
/// from [`MIN_EVERY`] to [`MAX_EVERY`]).
pub fn parse_every(s: &str) -> Result<Duration, SpecError> {
    let bad = |why: &str| SpecError::new("every", format!("\"{s}\" {why}: {EVERY_HELP}"));
    let text = s.trim();
    if text.is_empty() {
        return Err(bad("is empty"));
    }
    if text.starts_with('-') {
        return Err(bad("is negative"));
    }
    const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut total: u64 = 0;
    // Index into UNITS of the next unit allowed (units go largest first, once each).
    let mut next_unit = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad("is not a duration"));
        }
        let (num, tail) = rest.split_at(digits);
        let unit_len = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_alphabetic()).len();
        if unit_len == 0 {
            return Err(bad(&format!("has no unit after {num}")));
        }
        let (unit, tail) = tail.split_at(unit_len);
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(bad(&format!("has unknown unit \"{unit}\"")));
        };
        if pos < next_unit {
            return Err(bad("repeats a unit or puts a smaller one first"));
        }
        next_unit = pos + 1;
        let value: u64 = num.parse().map_err(|_| bad("is too long"))?;
        total = value
            .checked_mul(UNITS[pos].1)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(|| bad("is too long"))?;
        rest = tail.trim_start();
    }
    let d = Duration::from_secs(total);
    check_every(d, s)?;
    Ok(d)
}

/// Formats an interval the way [`parse_every`] reads it (`"1h30m"`); a
/// sub-second remainder is dropped.
pub fn format_every(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

fn check_every(d: Duration, shown: &str) -> Result<(), SpecError> {
    if d < MIN_EVERY {
        return Err(SpecError::new(
            "every",
            format!("\"{shown}\" is too short: the shortest interval is 1s"),
        ));
    }
    if d > MAX_EVERY {
        return Err(SpecError::new(
            "every",
            format!(
                "\"{shown}\" is too long: the longest interval is 366d; use \"cron\" or \"at\" for rarer schedules"
            ),
        ));
    }
    if d.subsec_nanos() != 0 {
        return Err(SpecError::new(
            "every",
            format!("\"{shown}\" is not whole seconds: {EVERY_HELP}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// JSON helpers

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn required_str<'a>(obj: &'a Map<String, Value>, key: &'static str, example: &str) -> Result<&'a str, SpecError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(SpecError::new(
            key,
            format!("\"{key}\" must be a string, {example}; got {}", json_kind(other)),
        )),
        None => Err(SpecError::new(key, format!("\"{key}\" is missing: give {example}"))),
    }
}

/// A string value, or `None` when the key is absent or `null`.
fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    key: &'static str,
    example: &str,
) -> Result<Option<&'a str>, SpecError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_str(obj, key, example).map(Some),
    }
}

fn refuse_key(obj: &Map<String, Value>, key: &str, kind: &str, why: &str) -> Result<(), SpecError> {
    if obj.contains_key(key) {
        return Err(SpecError::new(
            "spec",
            format!("\"{key}\" cannot be used with \"{kind}\": {why}"),
        ));
    }
    Ok(())
}

fn parse_time(field: &'static str, s: &str) -> Result<DateTime<Utc>, SpecError> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            SpecError::new(
                field,
                format!("\"{s}\" is not an RFC 3339 time ({e}): use e.g. \"2026-12-01T09:00:00Z\" or \"2026-12-01T10:00:00+01:00\""),
            )
        })
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_timezone(name: &str) -> Result<Tz, SpecError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(SpecError::new(
            "timezone",
            "time zone is empty: use an IANA name such as Europe/Paris, or leave it out for UTC",
        ));
    }
    if let Ok(tz) = trimmed.parse::<Tz>() {
        return Ok(tz);
    }
    let hint = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(trimmed))
        .map(|tz| format!("did you mean \"{}\"? (names are case-sensitive)", tz.name()))
        .unwrap_or_else(|| "use an IANA name such as Europe/Paris".to_string());
    Err(SpecError::new(
        "timezone",
        format!("unknown time zone \"{name}\": {hint}"),
    ))
}

// ---------------------------------------------------------------------------
// Cron

fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

const FIELD_NAMES: [(&str, &str); 6] = [
    ("second", "0-59"),
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, L, W"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT (0 and 7 are Sunday), L, #"),
];

fn parse_cron(expr: &str) -> Result<CronSchedule, SpecError> {
    let bad = |why: String| SpecError::new("cron", format!("invalid cron expression \"{expr}\": {why}"));
    if expr.is_empty() {
        return Err(SpecError::new(
            "cron",
            format!("the cron expression is empty: {CRON_HELP}"),
        ));
    }
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if expr.starts_with('@') {
        if fields.len() != 1
            || !["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(expr))
        {
            return Err(bad(
                "unknown nickname: use @yearly, @annually, @monthly, @weekly, @daily or @hourly".to_string(),
            ));
        }
    } else if fields.len() != 5 && fields.len() != 6 {
        return Err(bad(format!("it has {} fields; {CRON_HELP}", fields.len())));
    }
    let parser = cron_parser();
    let cron = match parser.parse(expr) {
        Ok(c) => c,
        Err(e) => return Err(bad(explain_cron_error(&parser, &fields, &e))),
    };
    // Refuse expressions that never fire (e.g. "0 0 30 2 *"): any expression
    // that fires at all does so within a 400-year Gregorian cycle, and croner
    // searches far beyond that.
    if cron.find_next_occurrence(&DateTime::<Utc>::UNIX_EPOCH, false).is_err() {
        return Err(bad(
            "it matches no date (check day-of-month against month, e.g. February has no 30th)".to_string(),
        ));
    }
    Ok(CronSchedule {
        parts: split_wall_clock(cron),
    })
}

/// Names the field croner refused, by parsing each field alone.
fn explain_cron_error(parser: &CronParser, fields: &[&str], e: &croner::errors::CronError) -> String {
    if fields.len() == 5 || fields.len() == 6 {
        let names = &FIELD_NAMES[6 - fields.len()..];
        for (i, field) in fields.iter().enumerate() {
            let probe: Vec<&str> = (0..fields.len()).map(|j| if i == j { *field } else { "*" }).collect();
            if let Err(fe) = parser.parse(&probe.join(" ")) {
                let (name, allowed) = names[i];
                return format!(
                    "the {name} field \"{field}\" is invalid ({fe}); allowed: {allowed}, with ',' lists, '-' ranges and '/' steps"
                );
            }
        }
    }
    format!("{e}; {CRON_HELP}")
}

/// Splits an expression with explicit times of day (no wildcard, step or
/// modifier in the second, minute and hour fields) into one cron per time of
/// day, so each gets croner's fixed-time DST handling (see the module docs).
fn split_wall_clock(cron: croner::Cron) -> Vec<croner::Cron> {
    let explicit = |c: &croner::CronComponent| c.step == 1 && !c.from_wildcard && !c.has_modifiers();
    let p = &cron.pattern;
    if !(explicit(&p.seconds) && explicit(&p.minutes) && explicit(&p.hours)) {
        return vec![cron];
    }
    let (secs, mins, hours) = (p.seconds.values(), p.minutes.values(), p.hours.values());
    let count = secs.len() * mins.len() * hours.len();
    if count <= 1 || count > MAX_WALL_CLOCK_TIMES {
        return vec![cron];
    }
    // A field of the same range that holds only `keep`.
    let only = |c: &croner::CronComponent, keep: u16| -> Option<croner::CronComponent> {
        let mut single = croner::CronComponent::new(c.min, c.max, 0, 0);
        single.parse(&keep.to_string()).ok()?;
        Some(single)
    };
    let mut parts = Vec::with_capacity(count);
    for &h in &hours {
        for &m in &mins {
            for &s in &secs {
                let mut part = cron.clone();
                match (only(&p.hours, h), only(&p.minutes, m), only(&p.seconds, s)) {
                    (Some(hc), Some(mc), Some(sc)) => {
                        part.pattern.hours = hc;
                        part.pattern.minutes = mc;
                        part.pattern.seconds = sc;
                    }
                    // Cannot happen (values come from the same component);
                    // keep croner's own handling rather than fail.
                    _ => return vec![cron],
                }
                parts.push(part);
            }
        }
    }
    parts
}

impl CronSchedule {
    /// The first fire time of one part strictly after `after`.
    fn next_of(part: &croner::Cron, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = after;
        // croner answers strictly after its start; the loop only guards
        // against an answer that is not (it never ran twice in tests).
        for _ in 0..3 {
            let t = part
                .find_next_occurrence(&from.with_timezone(&tz), false)
                .ok()?
                .with_timezone(&Utc);
            if t > after {
                return Some(t);
            }
            from = t + TimeDelta::seconds(1);
        }
        None
    }

    fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.parts.iter().filter_map(|p| Self::next_of(p, tz, after)).min()
    }

    fn latest_at_or_before(&self, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz);
        self.parts
            .iter()
            .filter_map(|p| p.find_previous_occurrence(&local, true).ok())
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t <= now)
            .max()
    }

    /// Merges the parts' fire times (equal instants once).
    fn upcoming(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut heads: Vec<Option<DateTime<Utc>>> = self.parts.iter().map(|p| Self::next_of(p, tz, after)).collect();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let Some(t) = heads.iter().flatten().min().copied() else {
                break;
            };
            out.push(t);
            for (part, head) in self.parts.iter().zip(heads.iter_mut()) {
                if *head == Some(t) {
                    *head = Self::next_of(part, tz, t);
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Intervals, in nanoseconds since the epoch (i128: no overflow for any
// `DateTime<Utc>` and interval).

struct Interval {
    period: i128,
    anchor: i128,
}

impl Interval {
    /// `None` for a zero period (only possible for a hand-built `Spec`).
    fn new(every: Duration, anchor: DateTime<Utc>) -> Option<Interval> {
        let period = i128::try_from(every.as_nanos()).ok()?;
        (period > 0).then(|| Interval {
            period,
            anchor: to_nanos(anchor),
        })
    }

    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let x = to_nanos(after);
        if x < self.anchor {
            return from_nanos(self.anchor);
        }
        let k = (x - self.anchor).div_euclid(self.period) + 1;
        from_nanos(self.anchor + k * self.period)
    }

    fn latest_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let x = to_nanos(now);
        if x < self.anchor {
            return None;
        }
        let k = (x - self.anchor).div_euclid(self.period);
        from_nanos(self.anchor + k * self.period)
    }
}

fn to_nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

fn from_nanos(ns: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(ns.div_euclid(1_000_000_000)).ok()?;
    let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(secs, nanos)
}

#[cfg(test)]
mod tests;
