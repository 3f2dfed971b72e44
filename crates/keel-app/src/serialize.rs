//! Records as clients see them: PocketBase's JSON shape with hidden fields removed, the
//! email shown only where allowed, `expand` nested, and the `fields` picker applied.

use keel_data::{Expanded, FieldKind, Record, RequestInfo};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

/// A record as the requester `req` may see it, serialized straight from the record (no
/// intermediate JSON tree): hidden fields and passwords left out, the email only where
/// allowed, `expand` nested.
pub struct RecordOut<'a> {
    pub record: &'a Record,
    pub req: &'a RequestInfo,
}

impl Serialize for RecordOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let record = self.record;
        let col = &record.collection;
        let show_email = col.is_auth() && email_visible(record, self.req);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("collectionId", &col.id)?;
        map.serialize_entry("collectionName", &col.name)?;
        // Record data is normally in schema order: each field's value is the next entry,
        // found without hashing; a name out of step falls back to a lookup.
        let mut entries = record.data.iter().peekable();
        for field in &col.fields {
            let in_step = entries.next_if(|(k, _)| **k == field.name).map(|(_, v)| v);
            if field.hidden || matches!(field.kind, FieldKind::Password(_)) {
                continue;
            }
            if col.is_auth() && field.name == "email" && !show_email {
                continue;
            }
            match in_step.or_else(|| record.data.get(&field.name)) {
                Some(v) => map.serialize_entry(&field.name, v)?,
                None => map.serialize_entry(&field.name, &field.zero_value())?,
            }
        }
        if record.expand_shown || !record.expand.is_empty() {
            map.serialize_entry("expand", &ExpandOut { record, req: self.req })?;
        }
        map.end()
    }
}

struct ExpandOut<'a> {
    record: &'a Record,
    req: &'a RequestInfo,
}

impl Serialize for ExpandOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.record.expand.len()))?;
        for (name, e) in &self.record.expand {
            match e {
                Expanded::One(r) => map.serialize_entry(
                    name,
                    &RecordOut {
                        record: r,
                        req: self.req,
                    },
                )?,
                Expanded::Many(rs) => {
                    let items: Vec<RecordOut<'_>> = rs
                        .iter()
                        .map(|r| RecordOut {
                            record: r,
                            req: self.req,
                        })
                        .collect();
                    map.serialize_entry(name, &items)?
                }
            }
        }
        map.end()
    }
}

/// A record's public JSON for the requester `req` (see `RecordOut`).
pub fn record_json(record: &Record, req: &RequestInfo) -> Value {
    serde_json::to_value(RecordOut { record, req }).unwrap_or(Value::Null)
}

fn email_visible(record: &Record, req: &RequestInfo) -> bool {
    if req.skips_rules(&record.collection) {
        return true;
    }
    if record
        .data
        .get("emailVisibility")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return true;
    }
    req.auth
        .as_ref()
        .is_some_and(|a| a.collection.id == record.collection.id && a.id() == record.id())
}

/// One node of a parsed `fields` parameter.
#[derive(Debug, Default)]
struct Pick {
    /// `*` at this level: keep every key.
    all: bool,
    children: Vec<(String, Pick)>,
    /// `:excerpt(max, ellipsis)` on a leaf.
    excerpt: Option<(usize, bool)>,
}

fn parse_fields(fields: &str) -> Pick {
    let mut root = Pick::default();
    for raw in split_top_level(fields)
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (path, modifier) = match raw.split_once(':') {
            Some((p, m)) => (p, Some(m)),
            None => (raw, None),
        };
        let mut node = &mut root;
        for seg in path.split('.') {
            if seg == "*" {
                node.all = true;
                break;
            }
            let idx = match node.children.iter().position(|(k, _)| k == seg) {
                Some(i) => i,
                None => {
                    node.children.push((seg.to_string(), Pick::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[idx].1;
        }
        if let Some(m) = modifier.and_then(parse_excerpt) {
            node.excerpt = Some(m);
        }
    }
    root
}

/// Splits on commas that are not inside parentheses (`body:excerpt(100,true)` stays whole).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_excerpt(m: &str) -> Option<(usize, bool)> {
    let args = m.strip_prefix("excerpt(")?.strip_suffix(')')?;
    let mut it = args.split(',').map(str::trim);
    let max = it.next()?.parse().ok()?;
    let ellipsis = it.next().map(|s| s == "true" || s == "1").unwrap_or(false);
    Some((max, ellipsis))
}

fn apply(v: &mut Value, pick: &Pick) {
    if let Some((max, ellipsis)) = pick.excerpt {
        if let Value::String(s) = v {
            *s = excerpt(s, max, ellipsis);
        }
        return;
    }
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| apply(i, pick)),
        Value::Object(obj) => {
            if pick.children.is_empty() && !pick.all {
                return;
            }
            if !pick.all {
                obj.retain(|k, _| pick.children.iter().any(|(c, _)| c == k));
            }
            for (k, child) in &pick.children {
                if let Some(inner) = obj.get_mut(k) {
                    apply(inner, child);
                }
            }
        }
        _ => {}
    }
}

/// Plain-text excerpt of at most `max` characters (HTML tags stripped).
fn excerpt(s: &str, max: usize, ellipsis: bool) -> String {
    let mut text = String::with_capacity(s.len().min(max + 3));
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max).collect();
    if ellipsis {
        cut.push_str("...");
    }
    cut
}

/// Applies PocketBase's `fields` picker (`*,expand.author.name,body:excerpt(100,true)`) to a
/// response. On a list response (an object with `items`), it applies to each item.
pub fn pick_fields(v: &mut Value, fields: Option<&str>) {
    let Some(fields) = fields.filter(|f| !f.trim().is_empty()) else {
        return;
    };
    let pick = parse_fields(fields);
    if let Some(items) = v.get_mut("items").filter(|i| i.is_array()) {
        apply(items, &pick);
    } else {
        apply(v, &pick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_nested_fields_and_excerpts() {
        let mut v = json!({"id": "a", "title": "t", "body": "<p>Hello   big world</p>", "expand": {"author": {"id": "u", "name": "n", "email": "e"}}});
        pick_fields(&mut v, Some("id,body:excerpt(9,true),expand.author.name"));
        assert_eq!(
            v,
            json!({"id": "a", "body": "Hello big...", "expand": {"author": {"name": "n"}}})
        );

        let mut list = json!({"page": 1, "items": [{"id": "a", "x": 1}, {"id": "b", "x": 2}]});
        pick_fields(&mut list, Some("id"));
        assert_eq!(list["items"], json!([{"id": "a"}, {"id": "b"}]));
        assert_eq!(list["page"], 1);

        let mut all = json!({"id": "a", "x": 1, "expand": {"r": {"id": "b", "y": 2}}});
        pick_fields(&mut all, Some("*,expand.r.id"));
        assert_eq!(all, json!({"id": "a", "x": 1, "expand": {"r": {"id": "b"}}}));
    }
}
