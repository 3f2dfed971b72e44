//! The options of a field whose type stays the same: lengths, ranges, select values, how
//! many values, relation targets, file limits, domains, patterns.

use keel_data::schema::{FILE_DEFAULT_MAX_SIZE, JSON_DEFAULT_MAX_SIZE, TEXT_DEFAULT_MAX};
use keel_data::{Field, FieldKind, Probe};

use crate::changes::finding::{Finding, Level};

struct Ctx<'a> {
    c: &'a str,
    /// The field's name now (messages) and before (the column the data checks read).
    name: &'a str,
    column: &'a str,
    out: &'a mut Vec<Finding>,
}

impl Ctx<'_> {
    fn push(&mut self, code: &str, level: Level, what: String) {
        let msg = format!("Field {} of {}: {what}", self.name, self.c);
        self.out.push(Finding::new(code, level, self.name, msg));
    }

    fn push_probe(&mut self, code: &str, level: Level, what: String, probe: Probe) {
        let msg = format!("Field {} of {}: {what}", self.name, self.c);
        self.out.push(Finding::new(code, level, self.name, msg).probe(probe));
    }

    fn col(&self) -> String {
        self.column.to_string()
    }
}

pub(super) fn compare(c: &str, old: &Field, new: &Field, out: &mut Vec<Finding>) {
    let mut x = Ctx {
        c,
        name: &new.name,
        column: &old.name,
        out,
    };
    cardinality(&mut x, old, new);
    match (&old.kind, &new.kind) {
        (FieldKind::Text(o), FieldKind::Text(n)) => {
            let eff = |m: i64| if m <= 0 { TEXT_DEFAULT_MAX } else { m };
            length(&mut x, o.min, n.min, eff(o.max), eff(n.max));
            pattern(&mut x, &o.pattern, &n.pattern);
            if o.encrypted != n.encrypted {
                x.push(
                    "field-encryption-changed",
                    Level::Major,
                    format!(
                        "encryption is turned {}; filters, sorts and unique indexes on it {}.",
                        if n.encrypted { "on" } else { "off" },
                        if n.encrypted { "stop working" } else { "become possible" }
                    ),
                );
            }
            if o.autogenerate_pattern != n.autogenerate_pattern {
                x.push(
                    "field-options-changed",
                    Level::Patch,
                    "its autogenerate pattern changes.".into(),
                );
            }
        }
        (FieldKind::Number(o), FieldKind::Number(n)) => {
            let lo = narrower_min(o.min, n.min);
            let hi = narrower_max(o.max, n.max);
            if lo.is_some() || hi.is_some() {
                x.push_probe(
                    "range-narrowed",
                    Level::Major,
                    format!(
                        "its accepted range narrows from {} to {}.",
                        range(o.min, o.max),
                        range(n.min, n.max)
                    ),
                    Probe::Range {
                        field: x.col(),
                        min: lo,
                        max: hi,
                    },
                );
            } else if o.min != n.min || o.max != n.max {
                x.push(
                    "range-widened",
                    Level::Minor,
                    format!(
                        "its accepted range widens from {} to {}.",
                        range(o.min, o.max),
                        range(n.min, n.max)
                    ),
                );
            }
            if !o.only_int && n.only_int {
                x.push(
                    "number-made-integer",
                    Level::Major,
                    "only integers are accepted now.".into(),
                );
            } else if o.only_int && !n.only_int {
                x.push(
                    "number-integer-relaxed",
                    Level::Minor,
                    "decimals are accepted now.".into(),
                );
            }
        }
        (FieldKind::Email(o), FieldKind::Email(n)) | (FieldKind::Url(o), FieldKind::Url(n)) => {
            let restricted = (!n.only_domains.is_empty()
                && (o.only_domains.is_empty() || o.only_domains.iter().any(|d| !n.only_domains.contains(d))))
                || n.except_domains.iter().any(|d| !o.except_domains.contains(d));
            let relaxed = (o.only_domains.iter().any(|d| !n.only_domains.contains(d))
                || n.only_domains.iter().any(|d| !o.only_domains.contains(d)))
                || o.except_domains.iter().any(|d| !n.except_domains.contains(d));
            if restricted {
                x.push(
                    "domains-restricted",
                    Level::Major,
                    "fewer domains are accepted now.".into(),
                );
            } else if relaxed {
                x.push("domains-relaxed", Level::Minor, "more domains are accepted now.".into());
            }
        }
        (FieldKind::Date(o), FieldKind::Date(n)) => {
            let raised = |o: &str, n: &str| !n.is_empty() && (o.is_empty() || n > o);
            let lowered = |o: &str, n: &str| !n.is_empty() && (o.is_empty() || n < o);
            let lo = raised(&o.min, &n.min).then(|| n.min.clone());
            let hi = lowered(&o.max, &n.max).then(|| n.max.clone());
            if lo.is_some() || hi.is_some() {
                x.push_probe(
                    "range-narrowed",
                    Level::Major,
                    format!("its accepted dates narrow to {}.", date_range(&n.min, &n.max)),
                    Probe::DateRange {
                        field: x.col(),
                        min: lo,
                        max: hi,
                    },
                );
            } else if o.min != n.min || o.max != n.max {
                x.push(
                    "range-widened",
                    Level::Minor,
                    format!("its accepted dates widen to {}.", date_range(&n.min, &n.max)),
                );
            }
        }
        (FieldKind::Autodate(o), FieldKind::Autodate(n))
            if o.on_create != n.on_create || o.on_update != n.on_update =>
        {
            x.push(
                "autodate-changed",
                Level::Patch,
                "when it is set automatically changes.".into(),
            );
        }
        (FieldKind::Select(o), FieldKind::Select(n)) => {
            let removed: Vec<String> = o.values.iter().filter(|v| !n.values.contains(v)).cloned().collect();
            let added: Vec<String> = n.values.iter().filter(|v| !o.values.contains(v)).cloned().collect();
            if !removed.is_empty() {
                x.push_probe(
                    "select-values-removed",
                    Level::Major,
                    format!("the values {} are no longer allowed.", removed.join(", ")),
                    Probe::Using {
                        field: x.col(),
                        values: removed,
                    },
                );
            }
            if !added.is_empty() {
                x.push(
                    "select-values-added",
                    Level::Minor,
                    format!("the values {} are allowed now.", added.join(", ")),
                );
            }
        }
        (FieldKind::Json(o), FieldKind::Json(n)) => size(&mut x, o.max_size, n.max_size, JSON_DEFAULT_MAX_SIZE),
        (FieldKind::Editor(o), FieldKind::Editor(n)) => {
            size(&mut x, o.max_size, n.max_size, TEXT_DEFAULT_MAX);
            if o.convert_urls != n.convert_urls {
                x.push("field-options-changed", Level::Patch, "convertURLs changes.".into());
            }
        }
        (FieldKind::Relation(o), FieldKind::Relation(n)) => {
            if o.collection_id != n.collection_id {
                x.push_probe(
                    "relation-target-changed",
                    Level::Major,
                    format!(
                        "it now points to collection {} instead of {}: stored ids no longer resolve.",
                        n.collection_id, o.collection_id
                    ),
                    Probe::NotEmpty { field: x.col() },
                );
            }
            if !o.cascade_delete && n.cascade_delete {
                x.push(
                    "relation-cascade-enabled",
                    Level::Major,
                    "deleting a related record now deletes these records too.".into(),
                );
            } else if o.cascade_delete && !n.cascade_delete {
                x.push(
                    "relation-cascade-disabled",
                    Level::Minor,
                    "deleting a related record no longer deletes these records.".into(),
                );
            }
            if n.min_select > o.min_select {
                x.push(
                    "min-select-raised",
                    Level::Major,
                    format!(
                        "at least {} related records are required now (was {}).",
                        n.min_select, o.min_select
                    ),
                );
            } else if n.min_select < o.min_select {
                x.push(
                    "min-select-lowered",
                    Level::Minor,
                    format!("fewer related records are required now ({}).", n.min_select),
                );
            }
        }
        (FieldKind::File(o), FieldKind::File(n)) => {
            size(&mut x, o.max_size, n.max_size, FILE_DEFAULT_MAX_SIZE);
            let removed = !n.mime_types.is_empty()
                && (o.mime_types.is_empty() || o.mime_types.iter().any(|m| !n.mime_types.contains(m)));
            if removed {
                x.push(
                    "file-types-restricted",
                    Level::Major,
                    format!("only {} files are accepted now.", n.mime_types.join(", ")),
                );
            } else if o.mime_types != n.mime_types {
                x.push(
                    "file-types-relaxed",
                    Level::Minor,
                    "more file types are accepted now.".into(),
                );
            }
            if !o.protected && n.protected {
                x.push(
                    "file-protected",
                    Level::Major,
                    "its files now need a file token: plain file URLs stop working.".into(),
                );
            } else if o.protected && !n.protected {
                x.push(
                    "file-unprotected",
                    Level::Minor,
                    "its files no longer need a file token: anyone with the URL can read them.".into(),
                );
            }
            if o.thumbs != n.thumbs {
                x.push(
                    "field-options-changed",
                    Level::Patch,
                    "its thumbnail sizes change.".into(),
                );
            }
        }
        (FieldKind::Password(o), FieldKind::Password(n)) => {
            let eff = |m: i64| if m <= 0 { i64::MAX } else { m };
            let tighter = n.min > o.min || eff(n.max) < eff(o.max) || (!n.pattern.is_empty() && n.pattern != o.pattern);
            if tighter {
                x.push(
                    "password-policy-tightened",
                    Level::Major,
                    "some passwords accepted before are refused now.".into(),
                );
            } else if n.min != o.min || n.max != o.max || n.pattern != o.pattern {
                x.push(
                    "password-policy-relaxed",
                    Level::Minor,
                    "more passwords are accepted now.".into(),
                );
            }
            if o.cost != n.cost {
                x.push(
                    "field-options-changed",
                    Level::Patch,
                    "the password hash cost changes.".into(),
                );
            }
        }
        _ => {}
    }
}

/// Single ↔ multiple changes the JSON shape (string ↔ array); a lower maxSelect among
/// multiples refuses what was accepted.
fn cardinality(x: &mut Ctx<'_>, old: &Field, new: &Field) {
    let max = |f: &Field| match &f.kind {
        FieldKind::Select(o) => Some(o.max_select),
        FieldKind::Relation(o) => Some(o.max_select),
        FieldKind::File(o) => Some(o.max_select),
        _ => None,
    };
    let (Some(om), Some(nm)) = (max(old), max(new)) else {
        return;
    };
    match (old.is_multiple(), new.is_multiple()) {
        (true, false) => x.push_probe(
            "field-cardinality-changed",
            Level::Major,
            "it holds a single value now instead of a list: the API returns a string and extra values are dropped."
                .into(),
            Probe::MoreThan { field: x.col(), max: 1 },
        ),
        (false, true) => x.push(
            "field-cardinality-changed",
            Level::Major,
            format!("it holds a list of up to {nm} values now instead of one: the API returns an array."),
        ),
        (true, true) if nm < om => x.push_probe(
            "max-select-lowered",
            Level::Major,
            format!("at most {nm} values are allowed now (was {om})."),
            Probe::MoreThan {
                field: x.col(),
                max: nm,
            },
        ),
        (true, true) if nm > om => x.push(
            "max-select-raised",
            Level::Minor,
            format!("up to {nm} values are allowed now (was {om})."),
        ),
        _ => {}
    }
}

fn length(x: &mut Ctx<'_>, omin: i64, nmin: i64, omax: i64, nmax: i64) {
    if nmax < omax {
        x.push_probe(
            "max-length-narrowed",
            Level::Major,
            format!("its maximum length drops from {omax} to {nmax} characters."),
            Probe::Length {
                field: x.col(),
                min: None,
                max: Some(nmax),
            },
        );
    } else if nmax > omax {
        x.push(
            "max-length-widened",
            Level::Minor,
            format!("its maximum length grows from {omax} to {nmax} characters."),
        );
    }
    if nmin > omin {
        x.push_probe(
            "min-length-raised",
            Level::Major,
            format!("its minimum length grows from {omin} to {nmin} characters."),
            Probe::Length {
                field: x.col(),
                min: Some(nmin),
                max: None,
            },
        );
    } else if nmin < omin {
        x.push(
            "min-length-lowered",
            Level::Minor,
            format!("its minimum length drops from {omin} to {nmin} characters."),
        );
    }
}

fn pattern(x: &mut Ctx<'_>, old: &str, new: &str) {
    if old == new {
        return;
    }
    if new.is_empty() {
        x.push(
            "pattern-removed",
            Level::Minor,
            format!("its pattern `{old}` is removed."),
        );
    } else {
        x.push(
            "pattern-changed",
            Level::Major,
            format!(
                "values must now match `{new}`{}.",
                if old.is_empty() {
                    String::new()
                } else {
                    format!(" instead of `{old}`")
                }
            ),
        );
    }
}

fn size(x: &mut Ctx<'_>, old: i64, new: i64, default: i64) {
    let eff = |m: i64| if m <= 0 { default } else { m };
    let (o, n) = (eff(old), eff(new));
    if n < o {
        x.push(
            "max-size-lowered",
            Level::Major,
            format!("its maximum size drops from {o} to {n} bytes."),
        );
    } else if n > o {
        x.push(
            "max-size-raised",
            Level::Minor,
            format!("its maximum size grows from {o} to {n} bytes."),
        );
    }
}

/// The new lower bound when it excludes numbers the old one allowed.
fn narrower_min(old: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (old, new) {
        (None, Some(n)) => Some(n),
        (Some(o), Some(n)) if n > o => Some(n),
        _ => None,
    }
}

fn narrower_max(old: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (old, new) {
        (None, Some(n)) => Some(n),
        (Some(o), Some(n)) if n < o => Some(n),
        _ => None,
    }
}

fn range(min: Option<f64>, max: Option<f64>) -> String {
    let b = |v: Option<f64>, inf: &str| v.map_or(inf.to_string(), |v| v.to_string());
    format!("[{}, {}]", b(min, "-∞"), b(max, "∞"))
}

fn date_range(min: &str, max: &str) -> String {
    let b = |v: &str, open: &str| if v.is_empty() { open.to_string() } else { v.to_string() };
    format!("[{}, {}]", b(min, "any"), b(max, "any"))
}
