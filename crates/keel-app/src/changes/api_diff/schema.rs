//! Schemas compared in a direction. `Request`: what callers send, so accepting less breaks
//! them. `Response`: what callers read, so giving more (or less certainly) breaks them.
//!
//! `oneOf` / `anyOf` branches are matched by `$ref` (else position) and compared in turn.
//!
//! Codes are `{prefix}-{check}`: the prefix says where (`request-body`, `request-property`,
//! `request-parameter`, `response-body`, `response-property`). `allOf` parts are merged into
//! one schema; references are followed, and a pair of references (old, new) is compared once
//! per body or parameter: a cycle ends there, and a component used in several places is
//! reported at the first place it is reached. Depth is capped.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};

use super::resolve::{ref_of, resolve};
use super::Diff;
use crate::changes::finding::Level;

const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Request,
    Response,
}

pub(super) fn compare(d: &mut Diff<'_>, subject: &str, dir: Dir, old: &Value, new: &Value, prefix: &str, what: &str) {
    let mut cx = Cx {
        d,
        subject,
        dir,
        done: HashSet::new(),
    };
    cx.schema(old, new, prefix, what, "", 0);
}

struct Cx<'a, 'b> {
    d: &'a mut Diff<'b>,
    subject: &'a str,
    dir: Dir,
    /// The reference pairs already compared in this comparison: each is compared once (a
    /// cycle ends, and shared references do not expand at every use).
    done: HashSet<(String, String)>,
}

/// `v` resolved, with its `allOf` parts (resolved too) merged in: properties and required
/// names united, other keys taken from the first part that has them.
fn flatten(root: &Value, v: &Value, depth: usize) -> Map<String, Value> {
    let v = resolve(root, v);
    let mut out = v.as_object().cloned().unwrap_or_default();
    let Some(parts) = out.remove("allOf").and_then(|a| a.as_array().cloned()) else {
        return out;
    };
    if depth > 8 {
        return out;
    }
    for part in &parts {
        let p = flatten(root, part, depth + 1);
        for (k, v) in p {
            match (k.as_str(), out.get_mut(&k)) {
                ("properties", Some(Value::Object(mine))) => {
                    if let Value::Object(theirs) = v {
                        for (pk, pv) in theirs {
                            mine.entry(pk).or_insert(pv);
                        }
                    }
                }
                ("required", Some(Value::Array(mine))) => {
                    if let Value::Array(theirs) = v {
                        for r in theirs {
                            if !mine.contains(&r) {
                                mine.push(r);
                            }
                        }
                    }
                }
                (_, Some(_)) => {}
                (_, None) => {
                    out.insert(k, v);
                }
            }
        }
    }
    out
}

/// The JSON types a schema allows, `null` apart (3.0's `nullable`, 3.1's type lists).
fn types(s: &Map<String, Value>) -> (BTreeSet<String>, bool) {
    let mut set: BTreeSet<String> = match s.get("type") {
        Some(Value::String(t)) => [t.clone()].into(),
        Some(Value::Array(l)) => l.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => BTreeSet::new(),
    };
    let mut nullable = s.get("nullable").and_then(Value::as_bool).unwrap_or(false) || set.remove("null");
    if s.get("enum")
        .and_then(Value::as_array)
        .is_some_and(|e| e.contains(&Value::Null))
    {
        nullable = true;
    }
    (set, nullable)
}

/// Whether `to` accepts every value of `from` (`integer` ⊂ `number`).
fn widens(from: &BTreeSet<String>, to: &BTreeSet<String>) -> bool {
    from.iter()
        .all(|t| to.contains(t) || (t == "integer" && to.contains("number")))
}

fn num(s: &Map<String, Value>, key: &str) -> Option<f64> {
    s.get(key).and_then(Value::as_f64)
}

fn show(v: f64) -> String {
    v.to_string()
}

impl Cx<'_, '_> {
    fn push(&mut self, code: String, level: Level, what: String) {
        let subject = self.subject.to_string();
        self.d.push(&code, level, &subject, what);
    }

    /// Request: tightening breaks (major); response: tightening is safe (patch).
    fn tighten_level(&self) -> Level {
        match self.dir {
            Dir::Request => Level::Major,
            Dir::Response => Level::Patch,
        }
    }

    fn schema(&mut self, old: &Value, new: &Value, prefix: &str, what: &str, loc: &str, depth: usize) {
        if depth > MAX_DEPTH || self.d.budget == 0 {
            self.d.truncated = true;
            return;
        }
        self.d.budget -= 1;
        let pair = (
            ref_of(old).unwrap_or_default().to_string(),
            ref_of(new).unwrap_or_default().to_string(),
        );
        if (!pair.0.is_empty() || !pair.1.is_empty()) && !self.done.insert(pair) {
            return;
        }
        let (old_root, new_root) = (self.d.old_root, self.d.new_root);
        let o = flatten(old_root, old, 0);
        let n = flatten(new_root, new, 0);
        let here = if loc.is_empty() {
            what.to_string()
        } else {
            format!("{what} property `{loc}`")
        };
        if self.attributes(&o, &n, prefix, &here) {
            self.properties(&o, &n, what, loc, depth);
            if let (Some(oi), Some(ni)) = (o.get("items"), n.get("items")) {
                let loc = format!("{loc}[]");
                let nested = self.nested();
                self.schema(oi, ni, if loc == "[]" { prefix } else { nested }, what, &loc, depth + 1);
            }
            for (key, code) in [("oneOf", "one-of"), ("anyOf", "any-of")] {
                self.branches(&o, &n, key, &format!("{prefix}-{code}"), prefix, what, loc, depth);
            }
        }
    }

    /// `oneOf` / `anyOf` branches, matched by `$ref` when they are references, else by
    /// position: a branch gone from a request (or new in a response) breaks callers.
    #[allow(clippy::too_many_arguments)]
    fn branches(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        key: &str,
        code: &str,
        prefix: &str,
        what: &str,
        loc: &str,
        depth: usize,
    ) {
        let empty = Vec::new();
        let ob = o.get(key).and_then(Value::as_array).unwrap_or(&empty);
        let nb = n.get(key).and_then(Value::as_array).unwrap_or(&empty);
        if ob.is_empty() && nb.is_empty() {
            return;
        }
        let here = if loc.is_empty() {
            what.to_string()
        } else {
            format!("{what} property `{loc}`")
        };
        let name = |v: &Value, i: usize| {
            ref_of(v).map_or_else(|| format!("#{i}"), |r| r.rsplit('/').next().unwrap_or(r).to_string())
        };
        let matched = |list: &[Value], v: &Value, i: usize| -> Option<usize> {
            match ref_of(v) {
                Some(r) => list.iter().position(|x| ref_of(x) == Some(r)),
                None => (i < list.len() && ref_of(&list[i]).is_none()).then_some(i),
            }
        };
        let (removed, added) = match self.dir {
            Dir::Request => (Level::Major, Level::Minor),
            Dir::Response => (Level::Patch, Level::Major),
        };
        for (i, b) in ob.iter().enumerate() {
            match matched(nb, b, i) {
                Some(j) => self.schema(b, &nb[j], prefix, what, loc, depth + 1),
                None => self.push(
                    format!("{code}-removed"),
                    removed,
                    format!("the {here} no longer allows the {key} branch {}.", name(b, i)),
                ),
            }
        }
        for (i, b) in nb.iter().enumerate() {
            if matched(ob, b, i).is_none() {
                self.push(
                    format!("{code}-added"),
                    added,
                    format!("the {here} has a new {key} branch {}.", name(b, i)),
                );
            }
        }
    }

    fn nested(&self) -> &'static str {
        match self.dir {
            Dir::Request => "request-property",
            Dir::Response => "response-property",
        }
    }

    /// Compares one level's own keywords; false when the type changed (nothing below is
    /// compared then: it would only repeat the change).
    fn attributes(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, prefix: &str, here: &str) -> bool {
        let ((ot, on), (nt, nn)) = (types(o), types(n));
        if !ot.is_empty() && !nt.is_empty() && ot != nt {
            let show = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join("|");
            let text = format!("the type of the {here} changes from {} to {}.", show(&ot), show(&nt));
            let (code, level) = match self.dir {
                Dir::Request if widens(&ot, &nt) => ("type-generalized", Level::Minor),
                Dir::Response if widens(&nt, &ot) => ("type-narrowed", Level::Patch),
                _ => ("type-changed", Level::Major),
            };
            self.push(format!("{prefix}-{code}"), level, text);
            return false;
        }
        match (self.dir, on, nn) {
            (Dir::Request, true, false) => self.push(
                format!("{prefix}-became-not-nullable"),
                Level::Major,
                format!("the {here} no longer accepts null."),
            ),
            (Dir::Response, false, true) => self.push(
                format!("{prefix}-became-nullable"),
                Level::Major,
                format!("the {here} may now be null."),
            ),
            (Dir::Request, false, true) => self.push(
                format!("{prefix}-became-nullable"),
                Level::Minor,
                format!("the {here} accepts null now."),
            ),
            _ => {}
        }
        self.format(o, n, prefix, here);
        self.enums(o, n, prefix, here);
        self.bound(o, n, "maxLength", true, &format!("{prefix}-max-length"), here);
        self.bound(o, n, "minLength", false, &format!("{prefix}-min-length"), here);
        self.bound(o, n, "maximum", true, &format!("{prefix}-max"), here);
        self.bound(o, n, "minimum", false, &format!("{prefix}-min"), here);
        self.bound(o, n, "maxItems", true, &format!("{prefix}-max-items"), here);
        self.bound(o, n, "minItems", false, &format!("{prefix}-min-items"), here);
        self.pattern(o, n, prefix, here);
        true
    }

    fn format(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, prefix: &str, here: &str) {
        let (of, nf) = (
            o.get("format").and_then(Value::as_str),
            n.get("format").and_then(Value::as_str),
        );
        if of == nf {
            return;
        }
        let level = match (self.dir, of, nf) {
            (Dir::Request, Some(_), None) => Level::Minor,
            (Dir::Response, None, Some(_)) => Level::Patch,
            _ => Level::Major,
        };
        self.push(
            format!("{prefix}-format-changed"),
            level,
            format!(
                "the format of the {here} changes from {} to {}.",
                of.unwrap_or("none"),
                nf.unwrap_or("none")
            ),
        );
    }

    fn enums(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, prefix: &str, here: &str) {
        let (Some(oe), Some(ne)) = (
            o.get("enum").and_then(Value::as_array),
            n.get("enum").and_then(Value::as_array),
        ) else {
            return;
        };
        let list = |v: Vec<&Value>| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
        let removed: Vec<&Value> = oe.iter().filter(|v| !ne.contains(v)).collect();
        let added: Vec<&Value> = ne.iter().filter(|v| !oe.contains(v)).collect();
        let (rl, al) = match self.dir {
            Dir::Request => (Level::Major, Level::Minor),
            Dir::Response => (Level::Patch, Level::Major),
        };
        if !removed.is_empty() {
            self.push(
                format!("{prefix}-enum-value-removed"),
                rl,
                format!("the {here} no longer has the value(s) {}.", list(removed)),
            );
        }
        if !added.is_empty() {
            self.push(
                format!("{prefix}-enum-value-added"),
                al,
                format!("the {here} has the new value(s) {}.", list(added)),
            );
        }
    }

    /// A bound: `upper` (max…) tightens when it decreases, a lower bound when it increases.
    fn bound(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        key: &str,
        upper: bool,
        code: &str,
        here: &str,
    ) {
        let (ov, nv) = (num(o, key), num(n, key));
        let (ob, nb) = if upper {
            (ov.unwrap_or(f64::INFINITY), nv.unwrap_or(f64::INFINITY))
        } else {
            (ov.unwrap_or(f64::NEG_INFINITY), nv.unwrap_or(f64::NEG_INFINITY))
        };
        if ob == nb {
            return;
        }
        let decreased = nb < ob;
        let tightened = decreased == upper;
        let level = if tightened { self.tighten_level() } else { Level::Minor };
        let side = |v: Option<f64>| v.map_or_else(|| "none".to_string(), show);
        self.push(
            format!("{code}-{}", if decreased { "decreased" } else { "increased" }),
            level,
            format!("{key} of the {here} changes from {} to {}.", side(ov), side(nv)),
        );
    }

    fn pattern(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, prefix: &str, here: &str) {
        let (op, np) = (
            o.get("pattern").and_then(Value::as_str),
            n.get("pattern").and_then(Value::as_str),
        );
        match (op, np) {
            (a, b) if a == b => {}
            (Some(a), None) => self.push(
                format!("{prefix}-pattern-removed"),
                if self.dir == Dir::Request {
                    Level::Minor
                } else {
                    Level::Patch
                },
                format!("the {here} no longer has to match `{a}`."),
            ),
            (a, Some(b)) => self.push(
                format!("{prefix}-pattern-changed"),
                self.tighten_level(),
                format!(
                    "the {here} must now match `{b}`{}.",
                    a.map(|a| format!(" instead of `{a}`")).unwrap_or_default()
                ),
            ),
            _ => {}
        }
    }

    fn properties(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, what: &str, loc: &str, depth: usize) {
        let empty = Map::new();
        let op = o.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let np = n.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let req = |s: &Map<String, Value>, k: &str| {
            s.get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(k)))
        };
        let (old_root, new_root) = (self.d.old_root, self.d.new_root);
        // A property only the other direction sees (readOnly in requests, writeOnly in
        // responses) is not compared.
        let dir = self.dir;
        let skip = |root: &Value, v: &Value| {
            let key = match dir {
                Dir::Request => "readOnly",
                Dir::Response => "writeOnly",
            };
            resolve(root, v).get(key).and_then(Value::as_bool).unwrap_or(false)
        };
        let p = self.nested();
        let at = |k: &str| {
            if loc.is_empty() {
                k.to_string()
            } else {
                format!("{loc}.{k}")
            }
        };
        for (k, ov) in op {
            if skip(old_root, ov) {
                continue;
            }
            let path = at(k);
            let here = format!("{what} property `{path}`");
            let Some(nv) = np.get(k).filter(|nv| !skip(new_root, nv)) else {
                self.push(format!("{p}-removed"), Level::Major, format!("the {here} is removed."));
                continue;
            };
            let (or, nr) = (req(o, k), req(n, k));
            match (self.dir, or, nr) {
                (Dir::Request, false, true) => self.push(
                    format!("{p}-became-required"),
                    Level::Major,
                    format!("the {here} becomes required."),
                ),
                (Dir::Request, true, false) => self.push(
                    format!("{p}-became-optional"),
                    Level::Minor,
                    format!("the {here} becomes optional."),
                ),
                (Dir::Response, true, false) => self.push(
                    format!("{p}-became-optional"),
                    Level::Major,
                    format!("the {here} becomes optional: it may be missing."),
                ),
                (Dir::Response, false, true) => self.push(
                    format!("{p}-became-required"),
                    Level::Patch,
                    format!("the {here} is now always present."),
                ),
                _ => {}
            }
            self.schema(ov, nv, p, what, &path, depth + 1);
        }
        for (k, nv) in np {
            if skip(new_root, nv) || op.get(k).is_some_and(|ov| !skip(old_root, ov)) {
                continue;
            }
            let here = format!("{what} property `{}`", at(k));
            match self.dir {
                Dir::Request if req(n, k) => self.push(
                    "new-required-request-property".into(),
                    Level::Major,
                    format!("a required {here} is added."),
                ),
                Dir::Request => self.push(
                    "new-optional-request-property".into(),
                    Level::Minor,
                    format!("an optional {here} is added."),
                ),
                Dir::Response => self.push(
                    "response-property-added".into(),
                    Level::Minor,
                    format!("the {here} is added."),
                ),
            }
        }
    }
}
