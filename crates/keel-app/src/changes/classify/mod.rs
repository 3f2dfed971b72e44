//! Classification of a collection change: the collection before and after (PocketBase's JSON
//! shape, `keel_data::Collection`) in, [`Finding`]s out, each with a stable code and a semver
//! level; the verdict is the highest. Split by topic: fields (fields.rs, options.rs), rules
//! (rules.rs), indexes (indexes.rs), auth options (auth.rs); data.rs runs the data checks.
//!
//! - **Identity**: fields are matched by `id` (PocketBase keeps it across a rename), so a
//!   rename is `field-renamed`, never a removal plus an addition; a field without an id on
//!   either side is matched by name.
//! - **Levels**: `major` when some caller, record or session stops working (a removed or
//!   renamed field, a narrower accepted input, a rule that lets fewer callers in, a signing
//!   secret replaced); `minor` when callers keep working and more is possible (an optional
//!   field, a select value, a looser rule); `patch` for what no caller sees (indexes, options
//!   of the console such as `presentable`).
//! - **Data checks**: where the answer depends on the rows (a field made required, a unique
//!   index, select values removed, a narrower length or range, fewer selections allowed) the
//!   finding carries a `keel_data::Probe`; [`data::run`] counts the affected rows on the real
//!   table with bound SQL and fills `affectedRows`. The level does not depend on the count:
//!   a new constraint breaks writers even when today's rows all pass it.

mod auth;
pub mod data;
mod fields;
mod indexes;
mod options;
mod rules;

#[cfg(test)]
mod tests;

use keel_data::{Collection, Probe};

use super::finding::{Finding, Level};

/// What changes from `before` to `after`: `None` before is a new collection, `None` after a
/// deleted one.
pub fn classify(before: Option<&Collection>, after: Option<&Collection>) -> Vec<Finding> {
    match (before, after) {
        (None, None) => vec![],
        (None, Some(a)) => vec![Finding::new(
            "collection-created",
            Level::Minor,
            a.name.clone(),
            format!("Collection {} is new.", a.name),
        )],
        (Some(b), None) => vec![Finding::new(
            "collection-deleted",
            Level::Major,
            b.name.clone(),
            format!(
                "Collection {} is deleted with all its records; every caller of its API breaks.",
                b.name
            ),
        )
        .probe(Probe::Rows)],
        (Some(b), Some(a)) => changed(b, a),
    }
}

fn changed(b: &Collection, a: &Collection) -> Vec<Finding> {
    let mut out = Vec::new();
    if b.name != a.name {
        out.push(Finding::new(
            "collection-renamed",
            Level::Major,
            b.name.clone(),
            format!(
                "Collection {} is renamed to {}: its API path /api/collections/{}/records changes.",
                b.name, a.name, b.name
            ),
        ));
    }
    if b.view_query != a.view_query {
        out.push(Finding::new(
            "view-query-changed",
            Level::Major,
            a.name.clone(),
            format!(
                "The query of view {} changes: its records and fields may differ (treated as breaking).",
                a.name
            ),
        ));
    }
    fields::compare(b, a, &mut out);
    rules::compare_collection(b, a, &mut out);
    indexes::compare(b, a, &mut out);
    auth::compare(b, a, &mut out);
    out
}
