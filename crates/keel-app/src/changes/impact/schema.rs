//! Dependents among the collections: other collections' rules that reach what the change
//! touches, relation fields targeting the collection, view collections whose query reads it,
//! and the collection's own indexes that name a touched field and stay unchanged.

use std::sync::Arc;

use keel_data::{Collection, FieldKind};
use serde_json::Value;

use super::refs::{references, Schema};
use super::touched::{same_index, How, Touched};
use super::Item;

/// The rules of `c` by name (`listRule`, …, `authRule`, `manageRule`, `mfa.rule`).
fn rules(c: &Collection) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (name, rule) in [
        ("listRule", &c.list_rule),
        ("viewRule", &c.view_rule),
        ("createRule", &c.create_rule),
        ("updateRule", &c.update_rule),
        ("deleteRule", &c.delete_rule),
    ] {
        if let Some(r) = rule {
            out.push((name, r.clone()));
        }
    }
    if let Some(auth) = &c.auth {
        for (name, rule) in [("authRule", &auth.auth_rule), ("manageRule", &auth.manage_rule)] {
            if let Some(r) = rule {
                out.push((name, r.clone()));
            }
        }
        if let Some(r) = auth.mfa.get("rule").and_then(Value::as_str) {
            out.push(("mfa.rule", r.to_string()));
        }
    }
    out
}

/// What a dependent that reads `what` meets, said once for every kind.
pub(super) fn consequence(t: &Touched, field: Option<&str>) -> &'static str {
    match field.and_then(|f| t.field(f)).map(|f| &f.how) {
        Some(How::Removed) | Some(How::Renamed(_)) => {
            "it stops resolving, and what it guards fails until it is changed too"
        }
        Some(How::Retyped { .. }) => "its comparisons may no longer mean what they did",
        None if t.deleted() => "it stops resolving, and what it guards fails until it is changed too",
        None => "it stops resolving by the old name until it is changed too",
    }
}

/// Other collections' rules reaching the touched collection or fields.
pub fn rule_items(all: &[Arc<Collection>], schema: &Schema, t: &Touched) -> Vec<Item> {
    let mut out = Vec::new();
    for c in all.iter().filter(|c| c.id != t.id()) {
        for (rule, src) in rules(c) {
            for r in references(&src, c, schema, t) {
                let what = t.describe(r.field.as_deref());
                out.push(
                    Item::new(
                        "rule",
                        format!("{}.{rule}", c.name),
                        r.path.clone(),
                        format!(
                            "The {rule} of {} reads {} through `{}`: {}.",
                            c.name,
                            what,
                            r.path,
                            consequence(t, r.field.as_deref())
                        ),
                    )
                    .in_collection(&c.name)
                    .touching(t.subject(r.field.as_deref())),
                );
            }
        }
    }
    out
}

/// Relation fields of any collection (the touched one included) that target it: when it is
/// deleted they point nowhere; when fields change, records expanded through them change.
pub fn relation_items(all: &[Arc<Collection>], t: &Touched) -> Vec<Item> {
    if !t.deleted() && t.fields.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for c in all.iter().filter(|c| !(t.deleted() && c.id == t.id())) {
        for f in &c.fields {
            let FieldKind::Relation(o) = &f.kind else { continue };
            if o.collection_id != t.id() && !o.collection_id.eq_ignore_ascii_case(t.name()) {
                continue;
            }
            let message = if t.deleted() {
                format!(
                    "Field {}.{} relates to {}, which this change deletes: the relation points nowhere and {} cannot be saved until it changes.",
                    c.name, f.name, t.name(), c.name
                )
            } else {
                let touched: Vec<String> = t.fields.iter().map(|f| t.describe(Some(&f.name))).collect();
                format!(
                    "Field {}.{} relates to {}: records expanded through it (`expand={}`) change with it: {}.",
                    c.name,
                    f.name,
                    t.name(),
                    f.name,
                    touched.join(", ")
                )
            };
            out.push(
                Item::new(
                    "relation",
                    format!("{}.{}", c.name, f.name),
                    t.name().to_string(),
                    message,
                )
                .in_collection(&c.name)
                .touching(t.name().to_string()),
            );
        }
    }
    out
}

/// View collections whose query names the touched collection (and, for field changes, the
/// field, or `*`).
pub fn view_items(all: &[Arc<Collection>], t: &Touched) -> Vec<Item> {
    let mut out = Vec::new();
    for v in all.iter().filter(|c| c.is_view() && c.id != t.id()) {
        let Some(q) = v.view_query.as_deref() else { continue };
        if !keel_data::view_mentions(q, t.name()) {
            continue;
        }
        let mut hits: Vec<Option<String>> = Vec::new();
        if t.deleted() || t.renamed() {
            hits.push(None);
        }
        for f in &t.fields {
            if keel_data::view_mentions(q, &f.name) || q.contains('*') {
                hits.push(Some(f.name.clone()));
            }
        }
        for field in hits {
            let what = t.describe(field.as_deref());
            out.push(
                Item::new(
                    "view",
                    v.name.clone(),
                    t.subject(field.as_deref()),
                    format!(
                        "View {} reads {} in its query: the query must change with it, or the view cannot be rebuilt.",
                        v.name, what
                    ),
                )
                .in_collection(&v.name)
                .touching(t.subject(field.as_deref())),
            );
        }
    }
    out
}

/// The touched collection's indexes that name a touched field and that the change keeps as
/// they are (one it drops or rewrites already changes with it).
pub fn index_items(t: &Touched) -> Vec<Item> {
    if t.deleted() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let kept = t
        .before
        .indexes
        .iter()
        .filter(|sql| t.after_indexes.iter().any(|a| same_index(a, sql)));
    for sql in kept {
        let shape = keel_data::index_shape(sql);
        let name = shape.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| sql.clone());
        for f in &t.fields {
            let names = match shape.as_ref().and_then(|s| s.columns.as_ref()) {
                Some(columns) => columns.iter().any(|c| c == &f.name),
                // An expression index: a word of its statement.
                _ => keel_data::view_mentions(sql, &f.name),
            };
            if !names {
                continue;
            }
            let what = t.describe(Some(&f.name));
            out.push(
                Item::new(
                    "index",
                    name.clone(),
                    sql.clone(),
                    format!(
                        "Index {name} of {} names field {what}: the index must change with it (unique indexes also change which writes are refused).",
                        t.name()
                    ),
                )
                .in_collection(t.name())
                .touching(t.subject(Some(&f.name))),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_data::schema::{CollectionType, TextOptions};
    use keel_data::Field;

    fn posts(fields: &[&str], indexes: &[&str]) -> Collection {
        let mut c = Collection::blank("posts", CollectionType::Base);
        c.id = "pbc_posts".into();
        for name in fields {
            let mut f = Field::new(name, FieldKind::Text(TextOptions::default()));
            f.id = (*name).into();
            c.fields.push(f);
        }
        c.indexes = indexes.iter().map(|s| s.to_string()).collect();
        c
    }

    fn names(t: &Touched) -> Vec<String> {
        index_items(t).into_iter().map(|i| i.name).collect()
    }

    #[test]
    fn only_indexes_the_change_keeps_unchanged_are_flagged() {
        let idx = "CREATE INDEX idx_body ON posts (body)";
        let before = posts(&["title", "body"], &[idx, "CREATE INDEX idx_title ON posts (title)"]);
        let mut retyped = before.clone();
        retyped.fields.retain(|f| f.name != "body");
        let mut body = Field::new("body", FieldKind::Number(Default::default()));
        body.id = "body".into();
        retyped.fields.push(body);
        let t = Touched::of(Some(&before), Some(&retyped)).unwrap();
        assert_eq!(names(&t), vec!["idx_body"], "kept as it was");

        let mut dropped = retyped.clone();
        dropped.indexes.retain(|s| s != idx);
        let t = Touched::of(Some(&before), Some(&dropped)).unwrap();
        assert!(names(&t).is_empty(), "the change drops it");

        let mut rewritten = retyped.clone();
        rewritten.indexes[0] = "CREATE UNIQUE INDEX idx_body ON posts (body)".into();
        let t = Touched::of(Some(&before), Some(&rewritten)).unwrap();
        assert!(names(&t).is_empty(), "the change rewrites it");
    }
}
