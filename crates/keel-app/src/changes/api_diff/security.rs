//! Security requirements: the operation's `security`, else the document's. An alternative
//! is a set of scheme names; `{}` (or no requirement at all) lets anonymous callers in.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Diff;
use crate::changes::finding::Level;

type Alternatives = Vec<BTreeSet<String>>;

fn effective(root: &Value, op: &Value) -> Alternatives {
    let list = op.get("security").or_else(|| root.get("security"));
    list.and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .collect()
        })
        .unwrap_or_default()
}

fn anonymous(a: &Alternatives) -> bool {
    a.is_empty() || a.iter().any(BTreeSet::is_empty)
}

fn show(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(" + ")
}

pub(super) fn compare(d: &mut Diff<'_>, subject: &str, old_op: &Value, new_op: &Value) {
    let (o, n) = (effective(d.old_root, old_op), effective(d.new_root, new_op));
    match (anonymous(&o), anonymous(&n)) {
        (true, false) => {
            let schemes: Vec<String> = n.iter().map(show).collect();
            d.push(
                "api-security-added",
                Level::Major,
                subject,
                format!("callers must now authenticate ({}).", schemes.join(" or ")),
            );
        }
        (false, true) => d.push(
            "api-security-removed",
            Level::Minor,
            subject,
            "callers no longer need to authenticate.".into(),
        ),
        (true, true) => {}
        (false, false) => {
            for alt in o.iter().filter(|a| !n.contains(a)) {
                d.push(
                    "api-security-requirement-removed",
                    Level::Major,
                    subject,
                    format!("callers authenticating with {} are no longer accepted.", show(alt)),
                );
            }
            for alt in n.iter().filter(|a| !o.contains(a)) {
                d.push(
                    "api-security-requirement-added",
                    Level::Minor,
                    subject,
                    format!("callers may now authenticate with {}.", show(alt)),
                );
            }
        }
    }
}
