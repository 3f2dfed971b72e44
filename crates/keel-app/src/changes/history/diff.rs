//! The readable diff of a collection update: a list of `{path, before, after}`, one per value
//! that changed, on the collections' JSON as the history keeps it (secrets masked).
//!
//! - Objects are compared key by key (`authToken.duration`, `listRule`); `created` and
//!   `updated` are left out.
//! - `fields` are matched by id, so a path names a field (`fields.title.max`), not a position:
//!   an added field is `{path: "fields.summary", before: null, after: {…}}`, a removed one the
//!   reverse, a renamed one `fields.body.name` (the path uses the name before); a new order of
//!   the same fields is one entry `fields.(order)` with both lists of names.
//! - Any other array (`indexes`, `oauth2.providers`, select `values`) is one entry with both
//!   arrays when it differs.

use serde_json::{json, Map, Value};

/// What changed from `before` to `after` (collection JSON).
pub fn diff(before: &Value, after: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn push(out: &mut Vec<Value>, path: &str, before: &Value, after: &Value) {
    out.push(json!({ "path": path, "before": before, "after": after }));
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<Value>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => objects(path, b, a, out),
        (Value::Array(b), Value::Array(a)) if path == "fields" => fields(b, a, out),
        _ => push(out, path, before, after),
    }
}

fn objects(path: &str, b: &Map<String, Value>, a: &Map<String, Value>, out: &mut Vec<Value>) {
    let null = Value::Null;
    let mut keys: Vec<&String> = b.keys().collect();
    keys.extend(a.keys().filter(|k| !b.contains_key(*k)));
    for k in keys {
        if path.is_empty() && (k == "created" || k == "updated") {
            continue;
        }
        walk(
            &join(path, k),
            b.get(k).unwrap_or(&null),
            a.get(k).unwrap_or(&null),
            out,
        );
    }
}

fn field_id(f: &Value) -> &str {
    f.get("id").and_then(Value::as_str).unwrap_or_default()
}

fn field_name(f: &Value) -> &str {
    f.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// Fields matched by id (by name when one has no id).
fn fields(b: &[Value], a: &[Value], out: &mut Vec<Value>) {
    let same = |x: &Value, y: &Value| {
        let (ix, iy) = (field_id(x), field_id(y));
        if !ix.is_empty() && !iy.is_empty() {
            ix == iy
        } else {
            field_name(x) == field_name(y)
        }
    };
    let null = Value::Null;
    for old in b {
        let path = join("fields", field_name(old));
        match a.iter().find(|n| same(old, n)) {
            Some(new) => walk(&path, old, new, out),
            None => push(out, &path, old, &null),
        }
    }
    for new in a.iter().filter(|n| !b.iter().any(|o| same(o, n))) {
        push(out, &join("fields", field_name(new)), &null, new);
    }
    let kept_order = |list: &[Value], other: &[Value]| -> Vec<Value> {
        list.iter()
            .filter(|f| other.iter().any(|o| same(f, o)))
            .map(|f| Value::from(field_name(f)))
            .collect()
    };
    let (ob, oa) = (kept_order(b, a), kept_order(a, b));
    // Same fields, other order (names as each side calls them: compare by position of ids).
    let ids = |list: &[Value], other: &[Value]| -> Vec<String> {
        list.iter()
            .filter(|f| other.iter().any(|o| same(f, o)))
            .map(|f| {
                let id = field_id(f);
                if id.is_empty() {
                    field_name(f).to_string()
                } else {
                    id.to_string()
                }
            })
            .collect()
    };
    if ids(b, a) != ids(a, b) {
        push(out, "fields.(order)", &Value::Array(ob), &Value::Array(oa));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(d: &[Value]) -> Vec<&str> {
        d.iter().map(|e| e["path"].as_str().unwrap()).collect()
    }

    #[test]
    fn fields_are_named_not_numbered_and_timestamps_are_left_out() {
        let before = json!({
            "name": "posts", "listRule": null, "updated": "a",
            "fields": [
                {"id": "f1", "name": "title", "type": "text", "max": 0},
                {"id": "f2", "name": "body", "type": "text"},
                {"id": "f3", "name": "gone", "type": "bool"}
            ],
            "indexes": []
        });
        let after = json!({
            "name": "articles", "listRule": "", "updated": "b",
            "fields": [
                {"id": "f1", "name": "title", "type": "text", "max": 10},
                {"id": "f2", "name": "content", "type": "text"},
                {"id": "f4", "name": "summary", "type": "text"}
            ],
            "indexes": ["CREATE INDEX x ON articles (title)"]
        });
        let d = diff(&before, &after);
        assert_eq!(
            paths(&d),
            vec![
                "name",
                "listRule",
                "fields.title.max",
                "fields.body.name",
                "fields.gone",
                "fields.summary",
                "indexes"
            ]
        );
        assert_eq!(d[2]["before"], 0);
        assert_eq!(d[2]["after"], 10);
        assert_eq!(d[4]["after"], Value::Null);
        assert_eq!(d[5]["before"], Value::Null);
    }

    #[test]
    fn a_new_order_of_the_same_fields_is_one_entry() {
        let before = json!({"fields": [{"id": "a", "name": "x"}, {"id": "b", "name": "y"}]});
        let after = json!({"fields": [{"id": "b", "name": "y"}, {"id": "a", "name": "x"}]});
        let d = diff(&before, &after);
        assert_eq!(paths(&d), vec!["fields.(order)"]);
        assert_eq!(d[0]["before"], json!(["x", "y"]));
        assert_eq!(d[0]["after"], json!(["y", "x"]));
        assert!(diff(&before, &before).is_empty());
    }
}
