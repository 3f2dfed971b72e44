//! Request bodies and responses: required or not, media types, status codes; each kept
//! media type's schema compared in its direction.

use serde_json::{Map, Value};

use super::resolve::resolve;
use super::schema::{self, Dir};
use super::Diff;
use crate::changes::finding::Level;

fn content(v: &Value) -> Vec<(String, &Value)> {
    v.get("content")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect())
        .unwrap_or_default()
}

fn required(v: &Value) -> bool {
    v.get("required").and_then(Value::as_bool).unwrap_or(false)
}

pub(super) fn request(d: &mut Diff<'_>, subject: &str, old: Option<&Value>, new: Option<&Value>) {
    let old = old.map(|v| resolve(d.old_root, v));
    let new = new.map(|v| resolve(d.new_root, v));
    let (o, n) = match (old, new) {
        (None, None) => return,
        (None, Some(n)) => {
            if required(n) {
                d.push(
                    "new-required-request-body",
                    Level::Major,
                    subject,
                    "a required request body is added.".into(),
                );
            } else {
                d.push(
                    "new-optional-request-body",
                    Level::Minor,
                    subject,
                    "an optional request body is added.".into(),
                );
            }
            return;
        }
        (Some(_), None) => {
            d.push(
                "request-body-removed",
                Level::Major,
                subject,
                "the request body is removed: what callers send is no longer read.".into(),
            );
            return;
        }
        (Some(o), Some(n)) => (o, n),
    };
    if !required(o) && required(n) {
        d.push(
            "request-body-became-required",
            Level::Major,
            subject,
            "the request body becomes required.".into(),
        );
    } else if required(o) && !required(n) {
        d.push(
            "request-body-became-optional",
            Level::Minor,
            subject,
            "the request body becomes optional.".into(),
        );
    }
    media(d, subject, Dir::Request, o, n, "request body");
}

fn media(d: &mut Diff<'_>, subject: &str, dir: Dir, o: &Value, n: &Value, what: &str) {
    let (oc, nc) = (content(o), content(n));
    let (removed, added, prefix) = match dir {
        Dir::Request => (
            "request-body-media-type-removed",
            "request-body-media-type-added",
            "request-body",
        ),
        Dir::Response => (
            "response-media-type-removed",
            "response-media-type-added",
            "response-body",
        ),
    };
    for (t, om) in &oc {
        let Some((_, nm)) = nc.iter().find(|(k, _)| k == t) else {
            d.push(
                removed,
                Level::Major,
                subject,
                format!("the {what} no longer comes as {t}."),
            );
            continue;
        };
        if let (Some(os), Some(ns)) = (om.get("schema"), nm.get("schema")) {
            schema::compare(d, subject, dir, os, ns, prefix, &format!("{what} ({t})"));
        }
    }
    for (t, _) in &nc {
        if !oc.iter().any(|(k, _)| k == t) {
            d.push(added, Level::Minor, subject, format!("the {what} may now come as {t}."));
        }
    }
}

fn success(status: &str) -> bool {
    status.starts_with('2') || status.starts_with('3') || status == "default"
}

pub(super) fn responses(d: &mut Diff<'_>, subject: &str, old: &Value, new: &Value) {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    for (status, or) in o {
        let Some(nr) = n.get(status) else {
            if success(status) {
                d.push(
                    "response-success-status-removed",
                    Level::Major,
                    subject,
                    format!("the {status} response is removed."),
                );
            } else {
                d.push(
                    "response-non-success-status-removed",
                    Level::Minor,
                    subject,
                    format!("the {status} response is removed."),
                );
            }
            continue;
        };
        let (or, nr) = (resolve(d.old_root, or), resolve(d.new_root, nr));
        media(d, subject, Dir::Response, or, nr, &format!("{status} response"));
    }
    for status in n.keys() {
        if !o.contains_key(status) {
            d.push(
                "response-status-added",
                Level::Minor,
                subject,
                format!("a {status} response is added."),
            );
        }
    }
}
