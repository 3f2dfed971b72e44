//! Paths and their operations: endpoints and operations removed or added, operation ids,
//! deprecation; each kept operation's parameters, body, responses and security compared.

use serde_json::{Map, Value};

use super::resolve::resolve;
use super::{bodies, params, security, Diff};
use crate::changes::finding::Level;

pub(super) const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// `/pets/{petId}` → `/pets/{}`: parameter names do not make a different endpoint.
pub(super) fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut inside = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if inside => {}
            _ => out.push(ch),
        }
    }
    out
}

fn paths(doc: &Value) -> Vec<(String, String, &Value)> {
    doc.get("paths")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (normalize(k), k.clone(), v)).collect())
        .unwrap_or_default()
}

fn operations(item: &Value) -> Vec<(&'static str, &Value)> {
    METHODS.iter().filter_map(|m| item.get(*m).map(|op| (*m, op))).collect()
}

pub(super) fn compare(d: &mut Diff<'_>) {
    let (old_paths, new_paths) = (paths(d.old_root), paths(d.new_root));
    for (key, raw, item) in &old_paths {
        let item = resolve(d.old_root, item);
        let Some((_, new_raw, new_item)) = new_paths.iter().find(|(k, _, _)| k == key) else {
            let deprecated = operations(item).iter().all(|(_, op)| is_deprecated(op));
            d.push(
                "endpoint-removed",
                Level::Major,
                raw,
                format!(
                    "the endpoint is removed{}.",
                    if deprecated { " (it was deprecated)" } else { "" }
                ),
            );
            continue;
        };
        let new_item = resolve(d.new_root, new_item);
        for (method, op) in operations(item) {
            let subject = format!("{} {new_raw}", method.to_uppercase());
            let Some(new_op) = new_item.get(method) else {
                d.push(
                    "operation-removed",
                    Level::Major,
                    &subject,
                    "the operation is removed.".into(),
                );
                continue;
            };
            operation(d, &subject, (raw, item, op), (new_raw, new_item, new_op));
        }
        for (method, _) in operations(new_item) {
            if item.get(method).is_none() {
                let subject = format!("{} {new_raw}", method.to_uppercase());
                d.push(
                    "operation-added",
                    Level::Minor,
                    &subject,
                    "the operation is new.".into(),
                );
            }
        }
    }
    for (key, raw, _) in &new_paths {
        if !old_paths.iter().any(|(k, _, _)| k == key) {
            d.push("endpoint-added", Level::Minor, raw, "the endpoint is new.".into());
        }
    }
}

fn is_deprecated(op: &Value) -> bool {
    op.get("deprecated").and_then(Value::as_bool).unwrap_or(false)
}

type Side<'a> = (&'a str, &'a Value, &'a Value);

fn operation(d: &mut Diff<'_>, subject: &str, old: Side<'_>, new: Side<'_>) {
    let (old_op, new_op) = (resolve(d.old_root, old.2), resolve(d.new_root, new.2));
    let id = |op: &Value| op.get("operationId").and_then(Value::as_str).map(String::from);
    if let (Some(a), Some(b)) = (id(old_op), id(new_op)) {
        if a != b {
            d.push(
                "api-operation-id-changed",
                Level::Minor,
                subject,
                format!("the operationId changes from {a} to {b}: generated clients rename the method."),
            );
        }
    }
    if !is_deprecated(old_op) && is_deprecated(new_op) {
        d.push(
            "api-deprecated",
            Level::Patch,
            subject,
            "the operation is deprecated.".into(),
        );
    }
    params::compare(d, subject, (old.0, old.1, old_op), (new.0, new.1, new_op));
    bodies::request(d, subject, old_op.get("requestBody"), new_op.get("requestBody"));
    let empty = Value::Object(Map::new());
    bodies::responses(
        d,
        subject,
        old_op.get("responses").unwrap_or(&empty),
        new_op.get("responses").unwrap_or(&empty),
    );
    security::compare(d, subject, old_op, new_op);
}
