//! Parameters (path, query, header, cookie): the path item's merged with the operation's
//! (the operation's win), matched by `in` and `name`; path parameters by their position
//! in the path, so renaming `{id}` to `{petId}` is no change.

use serde_json::Value;

use super::resolve::resolve;
use super::schema::{self, Dir};
use super::Diff;
use crate::changes::finding::Level;

struct Param<'a> {
    key: (String, String),
    name: String,
    location: String,
    required: bool,
    schema: Option<&'a Value>,
}

fn collect<'a>(root: &'a Value, path: &str, item: &'a Value, op: &'a Value) -> Vec<Param<'a>> {
    let mut out: Vec<Param<'a>> = Vec::new();
    let lists = [item.get("parameters"), op.get("parameters")];
    for list in lists.into_iter().flatten().filter_map(Value::as_array) {
        for p in list {
            let p = resolve(root, p);
            let (Some(name), Some(location)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str),
            ) else {
                continue;
            };
            let key = if location == "path" {
                let pos = path
                    .split('{')
                    .skip(1)
                    .position(|s| s.split('}').next() == Some(name))
                    .map_or_else(|| name.to_string(), |i| format!("#{i}"));
                (location.to_string(), pos)
            } else {
                let n = if location == "header" {
                    name.to_ascii_lowercase()
                } else {
                    name.to_string()
                };
                (location.to_string(), n)
            };
            let param = Param {
                key,
                name: name.to_string(),
                location: location.to_string(),
                required: location == "path" || p.get("required").and_then(Value::as_bool).unwrap_or(false),
                schema: p.get("schema").or_else(|| {
                    p.get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next()?.get("schema"))
                }),
            };
            out.retain(|q| q.key != param.key);
            out.push(param);
        }
    }
    out
}

type Side<'a> = (&'a str, &'a Value, &'a Value);

pub(super) fn compare(d: &mut Diff<'_>, subject: &str, old: Side<'_>, new: Side<'_>) {
    let olds = collect(d.old_root, old.0, old.1, old.2);
    let news = collect(d.new_root, new.0, new.1, new.2);
    for o in &olds {
        let what = format!("{} parameter `{}`", o.location, o.name);
        let Some(n) = news.iter().find(|n| n.key == o.key) else {
            d.push(
                "request-parameter-removed",
                Level::Major,
                subject,
                format!("the {what} is removed."),
            );
            continue;
        };
        if !o.required && n.required {
            d.push(
                "request-parameter-became-required",
                Level::Major,
                subject,
                format!("the {what} becomes required."),
            );
        } else if o.required && !n.required {
            d.push(
                "request-parameter-became-optional",
                Level::Minor,
                subject,
                format!("the {what} becomes optional."),
            );
        }
        if let (Some(os), Some(ns)) = (o.schema, n.schema) {
            schema::compare(d, subject, Dir::Request, os, ns, "request-parameter", &what);
        }
    }
    for n in &news {
        if olds.iter().any(|o| o.key == n.key) {
            continue;
        }
        let what = format!("{} parameter `{}`", n.location, n.name);
        if n.required {
            d.push(
                "new-required-request-parameter",
                Level::Major,
                subject,
                format!("a required {what} is added."),
            );
        } else {
            d.push(
                "new-optional-request-parameter",
                Level::Minor,
                subject,
                format!("an optional {what} is added."),
            );
        }
    }
}
