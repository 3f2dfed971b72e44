//! Rules: who may list, view, create, update, delete (and, on auth collections, sign in and
//! manage others' credentials).
//!
//! Decided conservatively. The order of access is `null` (superusers only) < any expression <
//! `""` (everyone). Between two expressions (compared with whitespace collapsed):
//! - the new one is the old one with more conditions joined by `&&` (`old && more`), or with
//!   alternatives removed from a top-level `||` → **tightened** (major: fewer callers);
//! - the new one drops `&&` conditions of the old one, or adds `||` alternatives
//!   (`old || more`) → **loosened** (minor, but a wider audience: review it);
//! - anything else is `rule-changed`, treated as tightened (major): Keel does not prove
//!   that one expression admits every caller the other did.
//!
//! Top-level `&&` / `||` are split outside parentheses and quotes (`&&` conditions only of
//! an expression without a top-level `||`, which binds looser); one outer pair of
//! parentheses around a part is ignored.

use keel_data::Collection;

use crate::changes::finding::{Finding, Level};

#[derive(Debug, PartialEq)]
pub(super) enum Change {
    Tightened,
    Loosened,
    /// Two expressions Keel cannot order.
    Changed,
}

/// How `new` compares to `old`; `None` when they are the same rule.
pub(super) fn compare(old: &Option<String>, new: &Option<String>) -> Option<Change> {
    let rank = |r: &Option<String>| match r {
        None => 0,
        Some(s) if s.trim().is_empty() => 2,
        Some(_) => 1,
    };
    let (ro, rn) = (rank(old), rank(new));
    if ro != rn {
        return Some(if rn > ro { Change::Loosened } else { Change::Tightened });
    }
    let (Some(o), Some(n)) = (old, new) else { return None };
    let (o, n) = (normalize(o), normalize(n));
    if o == n {
        return None;
    }
    let (od, nd) = (split(&o, "||"), split(&n, "||"));
    let (oc, nc) = (conjuncts(&o, &od), conjuncts(&n, &nd));
    if contains_all(&nc, &oc) && nc.len() > oc.len() || contains_all(&od, &nd) && od.len() > nd.len() {
        return Some(Change::Tightened);
    }
    if contains_all(&oc, &nc) && oc.len() > nc.len() || contains_all(&nd, &od) && nd.len() > od.len() {
        return Some(Change::Loosened);
    }
    Some(Change::Changed)
}

/// The top-level `&&` conditions of `s`: only when it has no top-level `||` (which binds
/// looser: `a && b || c` is `(a && b) || c`, one condition as far as `&&` goes).
fn conjuncts(s: &str, disjuncts: &[String]) -> Vec<String> {
    if disjuncts.len() > 1 {
        vec![normalize(s)]
    } else {
        split(s, "&&")
    }
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn contains_all(big: &[String], small: &[String]) -> bool {
    small.iter().all(|s| big.contains(s))
}

/// `s` split at the top-level `op` (outside parentheses and quotes), each part trimmed and
/// without one outer pair of parentheses.
fn split(s: &str, op: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    let mut quote: Option<char> = None;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        let ch = bytes[i] as char;
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None => match ch {
                '\'' | '"' => quote = Some(ch),
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 && bytes[i..].starts_with(op.as_bytes()) => {
                    parts.push(strip_parens(&s[start..i]));
                    i += op.len();
                    start = i;
                    continue;
                }
                _ => {}
            },
        }
        i += 1;
    }
    parts.push(strip_parens(&s[start..]));
    parts
}

fn strip_parens(s: &str) -> String {
    let t = s.trim();
    if t.starts_with('(') && t.ends_with(')') {
        // Only when the opening parenthesis closes at the end.
        let mut depth = 0i32;
        for (i, ch) in t.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 && i != t.len() - 1 {
                        return t.to_string();
                    }
                }
                _ => {}
            }
        }
        return normalize(&t[1..t.len() - 1]);
    }
    t.to_string()
}

fn describe(r: &Option<String>) -> String {
    match r {
        None => "superusers only".into(),
        Some(s) if s.trim().is_empty() => "everyone".into(),
        Some(s) => format!("`{}`", normalize(s)),
    }
}

/// A finding for the rule `name` ("listRule", …) of `collection` going from `old` to `new`.
pub(super) fn finding(collection: &str, name: &str, old: &Option<String>, new: &Option<String>) -> Option<Finding> {
    let change = compare(old, new)?;
    let (from, to) = (describe(old), describe(new));
    let subject = name.to_string();
    Some(match change {
        Change::Tightened => Finding::new(
            "rule-tightened",
            Level::Major,
            subject,
            format!("{name} of {collection} is tightened from {from} to {to}: fewer callers are allowed."),
        ),
        Change::Loosened => Finding::new(
            "rule-loosened",
            Level::Minor,
            subject,
            format!("{name} of {collection} is loosened from {from} to {to}: more callers are allowed; check that this is intended."),
        ),
        Change::Changed => Finding::new(
            "rule-changed",
            Level::Major,
            subject,
            format!("{name} of {collection} changes from {from} to {to}; Keel cannot tell whether fewer callers are allowed, so it is treated as tightened."),
        ),
    })
}

pub(super) fn compare_collection(b: &Collection, a: &Collection, out: &mut Vec<Finding>) {
    let pairs = [
        ("listRule", &b.list_rule, &a.list_rule),
        ("viewRule", &b.view_rule, &a.view_rule),
        ("createRule", &b.create_rule, &a.create_rule),
        ("updateRule", &b.update_rule, &a.update_rule),
        ("deleteRule", &b.delete_rule, &a.delete_rule),
    ];
    for (name, old, new) in pairs {
        out.extend(finding(&a.name, name, old, new));
    }
}
