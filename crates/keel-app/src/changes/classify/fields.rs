//! Fields: added, removed, renamed, retyped, made required or optional, hidden or shown,
//! reordered; the options of each type are compared in options.rs.

use keel_data::{Collection, Field, FieldKind, Probe};

use super::options;
use crate::changes::finding::{Finding, Level};

/// The field of `list` that is `f` in the other version: same id, else (ids missing) same name.
fn counterpart<'a>(list: &'a [Field], f: &Field) -> Option<&'a Field> {
    if !f.id.is_empty() {
        if let Some(o) = list.iter().find(|o| o.id == f.id) {
            return Some(o);
        }
        if list.iter().all(|o| !o.id.is_empty()) {
            return None;
        }
    }
    list.iter()
        .find(|o| o.name == f.name && (o.id.is_empty() || f.id.is_empty()))
}

/// Type changes every old value survives and every old input is still accepted.
fn widening(from: &FieldKind, to: &FieldKind) -> bool {
    matches!(
        (from, to),
        (FieldKind::Email(_) | FieldKind::Url(_), FieldKind::Text(_)) | (FieldKind::Text(_), FieldKind::Editor(_))
    )
}

pub(super) fn compare(b: &Collection, a: &Collection, out: &mut Vec<Finding>) {
    let c = &a.name;
    for old in &b.fields {
        if counterpart(&a.fields, old).is_none() {
            out.push(
                Finding::new(
                    "field-removed",
                    Level::Major,
                    old.name.clone(),
                    format!(
                        "Field {} of {c} is removed: its data is dropped and callers reading or writing it break.",
                        old.name
                    ),
                )
                .probe(Probe::NotEmpty {
                    field: old.name.clone(),
                }),
            );
        }
    }
    for new in &a.fields {
        let Some(old) = counterpart(&b.fields, new) else {
            out.push(added(c, new));
            continue;
        };
        field_changed(c, old, new, out);
    }
    // The kept fields in the old order (as they are now) against the new order.
    let was: Vec<&str> = b
        .fields
        .iter()
        .filter_map(|f| counterpart(&a.fields, f))
        .map(|f| f.name.as_str())
        .collect();
    let now: Vec<&str> = a
        .fields
        .iter()
        .filter(|f| counterpart(&b.fields, f).is_some())
        .map(|f| f.name.as_str())
        .collect();
    let renamed_only = was == now;
    if !renamed_only {
        out.push(Finding::new(
            "fields-reordered",
            Level::Patch,
            c.clone(),
            format!("The fields of {c} are reordered (only the console's order changes)."),
        ));
    }
}

fn added(c: &str, f: &Field) -> Finding {
    if f.required {
        Finding::new(
            "field-added-required",
            Level::Major,
            f.name.clone(),
            format!(
                "Required field {} is added to {c}: callers that create records without it now fail, and existing records have it empty.",
                f.name
            ),
        )
        .probe(Probe::Rows)
    } else {
        Finding::new(
            "field-added",
            Level::Minor,
            f.name.clone(),
            format!("Optional field {} ({}) is added to {c}.", f.name, f.kind.type_name()),
        )
    }
}

fn field_changed(c: &str, old: &Field, new: &Field, out: &mut Vec<Finding>) {
    let name = &new.name;
    if old.name != new.name {
        out.push(Finding::new(
            "field-renamed",
            Level::Major,
            old.name.clone(),
            format!(
                "Field {} of {c} is renamed to {}: callers using the old name break (the data is kept).",
                old.name, new.name
            ),
        ));
    }
    let (ot, nt) = (old.kind.type_name(), new.kind.type_name());
    if ot != nt {
        if widening(&old.kind, &new.kind) {
            out.push(Finding::new(
                "field-type-widened",
                Level::Minor,
                name.clone(),
                format!("Field {name} of {c} changes type from {ot} to {nt}, which accepts every value it did."),
            ));
        } else {
            out.push(
                Finding::new(
                    "field-type-changed",
                    Level::Major,
                    name.clone(),
                    format!("Field {name} of {c} changes type from {ot} to {nt}: stored values are converted or lost and callers see a different type."),
                )
                .probe(Probe::NotEmpty { field: old.name.clone() }),
            );
        }
    } else {
        options::compare(c, old, new, out);
    }
    if !old.required && new.required {
        out.push(
            Finding::new(
                "field-required-no-default",
                Level::Major,
                name.clone(),
                format!("Field {name} of {c} becomes required and has no default: callers that leave it empty now fail, and existing records with it empty fail their next update."),
            )
            .probe(Probe::Empty { field: old.name.clone() }),
        );
    } else if old.required && !new.required {
        out.push(Finding::new(
            "field-made-optional",
            Level::Minor,
            name.clone(),
            format!("Field {name} of {c} is no longer required: readers may now see it empty."),
        ));
    }
    if !old.hidden && new.hidden {
        out.push(Finding::new(
            "field-hidden",
            Level::Major,
            name.clone(),
            format!("Field {name} of {c} becomes hidden: the API stops returning it to every caller but superusers."),
        ));
    } else if old.hidden && !new.hidden {
        out.push(Finding::new(
            "field-unhidden",
            Level::Minor,
            name.clone(),
            format!(
                "Field {name} of {c} is no longer hidden: the API now returns it; check that it holds nothing secret."
            ),
        ));
    }
    if old.presentable != new.presentable {
        out.push(Finding::new(
            "field-presentable-changed",
            Level::Patch,
            name.clone(),
            format!("Field {name} of {c} changes whether the console presents it."),
        ));
    }
}
