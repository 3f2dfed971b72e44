//! Resolves operands: literals, `@request.*` and macros become constants (bound later as
//! parameters); field paths become SQL over the schema, with relation hops as subqueries.

use std::ops::Deref;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Timelike};
use serde_json::Value;

use super::ast::{Macro, Modifier, Operand, Path, Root};
use super::compile::Compiler;
use super::{parser, Origin};
use crate::schema::{Collection, FieldKind};

/// Most relation hops in one path (`a.b.c.d.e.f.field`).
const MAX_HOPS: usize = 6;

/// The SQL type family of a value, for choosing the zero value `null` is compared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Number,
    Bool,
    Any,
}

/// Rows a multi-valued operand ranges over: `SELECT value FROM from WHERE conds`.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub from: Vec<String>,
    pub conds: Vec<String>,
    pub value: String,
}

/// A resolved operand.
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    /// Known at compile time. A JSON array is multi-valued; `each` is the `:each` modifier.
    Const { value: Value, each: bool },
    /// One SQL scalar.
    Sql { expr: String, kind: Kind },
    /// Several values, one per row of `src`.
    Multi { src: Source, kind: Kind, each: bool },
    /// `@request.auth.*` of a guest: equal to `null`/`""` constants, never equal to (nor
    /// like) a stored value, so `author = @request.auth.id` is false for every row.
    Absent,
}

impl Resolved {
    fn constant(value: Value) -> Self {
        Resolved::Const { value, each: false }
    }
}

/// A collection borrowed from the context or found through the schema.
enum Coll<'x> {
    Borrowed(&'x Collection),
    Owned(Arc<Collection>),
}

impl Deref for Coll<'_> {
    type Target = Collection;
    fn deref(&self) -> &Collection {
        match self {
            Coll::Borrowed(c) => c,
            Coll::Owned(c) => c,
        }
    }
}

/// Where a path walk stands: the joined rows so far and the current row's alias.
struct Walk {
    from: Vec<String>,
    conds: Vec<String>,
    row: String,
    multi: bool,
    hops: usize,
}

fn kind_of(k: &FieldKind) -> Kind {
    match k {
        FieldKind::Number(_) => Kind::Number,
        FieldKind::Bool(_) => Kind::Bool,
        FieldKind::Json(_) => Kind::Any,
        _ => Kind::Text,
    }
}

/// Follows `segments` into a JSON value (object keys, array indexes).
fn navigate<'v>(mut v: Option<&'v Value>, segments: &[String]) -> Option<&'v Value> {
    for s in segments {
        v = match v? {
            Value::Object(m) => m.get(s),
            Value::Array(a) => s.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
    }
    v
}

/// `segments` looked up in a map of request values (`None` when absent).
fn lookup(map: &serde_json::Map<String, Value>, segments: &[String]) -> Option<Value> {
    let (head, tail) = segments.split_first()?;
    navigate(map.get(head), tail).cloned()
}

fn ascii_lower(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_ascii_lowercase()),
        Value::Array(a) => Value::Array(a.into_iter().map(ascii_lower).collect()),
        other => other,
    }
}

impl Compiler<'_, '_> {
    pub(crate) fn resolve(&mut self, o: &Operand) -> keel_core::Result<Resolved> {
        let p = match o {
            Operand::Str(s) => return Ok(Resolved::constant(Value::String(s.clone()))),
            Operand::Int(i) => return Ok(Resolved::constant(Value::from(*i))),
            Operand::Float(f) => return Ok(Resolved::constant(Value::from(*f))),
            Operand::Bool(b) => return Ok(Resolved::constant(Value::Bool(*b))),
            Operand::Null => return Ok(Resolved::constant(Value::Null)),
            Operand::Path(p) => p,
        };
        let req = self.ctx.request;
        match &p.root {
            Root::Macro(m) => self.const_mod(Some(self.macro_value(*m)), p),
            Root::Method => self.const_mod(Some(Value::String(req.method.clone())), p),
            Root::Context => self.const_mod(Some(Value::String(req.context.clone())), p),
            Root::Body => self.const_mod(lookup(&req.body, &p.segments), p),
            Root::Query => self.const_mod(lookup(req.query.map(), &p.segments), p),
            Root::Headers => self.const_mod(lookup(req.headers.map(), &p.segments), p),
            Root::Auth => self.resolve_auth(p),
            Root::Field => {
                let row = self.q(self.ctx.alias);
                let walk = Walk {
                    from: vec![],
                    conds: vec![],
                    row,
                    multi: false,
                    hops: 0,
                };
                self.walk(walk, Coll::Borrowed(self.ctx.collection), &p.segments, p)
            }
            Root::Collection { name, alias } => {
                let key = match alias {
                    Some(a) => format!("{name}:{a}"),
                    None => name.clone(),
                };
                let scope = self.scopes.iter().find(|s| s.key == key);
                let Some((row, coll)) = scope.map(|s| (s.alias.clone(), s.collection.clone())) else {
                    return Err(self.err(p.pos, &format!("unknown collection {name:?} in @collection")));
                };
                let walk = Walk {
                    from: vec![],
                    conds: vec![],
                    row,
                    multi: false,
                    hops: 0,
                };
                self.walk(walk, Coll::Owned(coll), &p.segments, p)
            }
        }
    }

    /// Applies a modifier to a compile-time value (`None` = absent).
    fn const_mod(&self, v: Option<Value>, p: &Path) -> keel_core::Result<Resolved> {
        Ok(match p.modifier {
            None => Resolved::constant(v.unwrap_or(Value::Null)),
            Some(Modifier::Isset) => Resolved::constant(Value::Bool(v.is_some())),
            Some(Modifier::Length) => Resolved::constant(Value::from(match v {
                Some(Value::Array(a)) => a.len(),
                None | Some(Value::Null) => 0,
                Some(Value::String(s)) if s.is_empty() => 0,
                Some(_) => 1,
            })),
            Some(Modifier::Each) => Resolved::Const {
                value: v.unwrap_or(Value::Null),
                each: true,
            },
            Some(Modifier::Lower) => Resolved::constant(ascii_lower(v.unwrap_or(Value::Null))),
        })
    }

    fn macro_value(&self, m: Macro) -> Value {
        let now = self.ctx.now;
        let date = now.date_naive();
        let fmt = |d: Option<NaiveDate>, end: bool| -> Value {
            let Some(d) = d else { return Value::Null };
            let t = d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
            let t = if end {
                t.map(|t| t + Duration::days(1) - Duration::milliseconds(1))
            } else {
                t
            };
            t.map_or(Value::Null, |t| Value::String(keel_core::time::format(t)))
        };
        let month_start = NaiveDate::from_ymd_opt(date.year(), date.month(), 1);
        let next_month = if date.month() == 12 {
            NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
        };
        match m {
            Macro::Now => Value::String(keel_core::time::format(now)),
            Macro::Second => Value::from(now.second()),
            Macro::Minute => Value::from(now.minute()),
            Macro::Hour => Value::from(now.hour()),
            Macro::Weekday => Value::from(now.weekday().num_days_from_sunday()),
            Macro::Day => Value::from(date.day()),
            Macro::Month => Value::from(date.month()),
            Macro::Year => Value::from(date.year()),
            Macro::TodayStart => fmt(Some(date), false),
            Macro::TodayEnd => fmt(Some(date), true),
            Macro::MonthStart => fmt(month_start, false),
            Macro::MonthEnd => fmt(next_month.and_then(|d| d.pred_opt()), true),
            Macro::YearStart => fmt(NaiveDate::from_ymd_opt(date.year(), 1, 1), false),
            Macro::YearEnd => fmt(NaiveDate::from_ymd_opt(date.year(), 12, 31), true),
        }
    }

    /// `@request.auth.*`: constants from the auth record, or a walk through its relations.
    fn resolve_auth(&mut self, p: &Path) -> keel_core::Result<Resolved> {
        let Some(auth) = self.ctx.request.auth.as_ref() else {
            return match p.modifier {
                None | Some(Modifier::Lower) | Some(Modifier::Each) => Ok(Resolved::Absent),
                Some(_) => self.const_mod(None, p),
            };
        };
        let Some((name, rest)) = p.segments.split_first() else {
            return Err(self.err(p.pos, "expected a field name after @request.auth"));
        };
        let name = name.as_str();
        match name {
            "collectionName" if rest.is_empty() => {
                return self.const_mod(Some(Value::String(auth.collection.name.clone())), p)
            }
            "collectionId" if rest.is_empty() => {
                return self.const_mod(Some(Value::String(auth.collection.id.clone())), p)
            }
            _ => {}
        }
        let value = auth.record.get(name);
        let Some(field) = auth.collection.field(name) else {
            return self.const_mod(navigate(value, rest).cloned(), p);
        };
        if field.hidden && !self.ctx.request.skips_rules(&auth.collection) {
            return Err(self.err(p.pos, &format!("field {name:?} of @request.auth is hidden")));
        }
        if field.is_encrypted() {
            return Err(self.err(
                p.pos,
                &format!("field {name:?} of @request.auth is encrypted and cannot be used in an expression"),
            ));
        }
        let FieldKind::Relation(opts) = &field.kind else {
            return self.const_mod(navigate(value, rest).cloned(), p);
        };
        if rest.is_empty() {
            return self.const_mod(value.cloned(), p);
        }
        let target = self.target(&opts.collection_id, p)?;
        let r_name = self.fresh_name("r");
        let r = self.q(&r_name);
        let id = format!("{r}.{}", self.q("id"));
        let (cond, multi) = match value {
            Some(Value::Array(ids)) => {
                let ids = self.buf.bind(Value::String(Value::Array(ids.clone()).to_string()));
                let j = self.fresh("j");
                (
                    format!(
                        "{id} IN (SELECT {j}.value FROM {} AS {j})",
                        self.dialect().json_each(&ids)
                    ),
                    true,
                )
            }
            Some(v @ Value::String(_)) => (format!("{id} = {}", self.buf.bind(v.clone())), false),
            _ => ("1=0".to_string(), false),
        };
        let from = vec![format!("{} AS {r}", self.q(&target.name))];
        let mut conds = vec![cond];
        self.reach(&mut conds, &target, &r_name, false)?;
        let walk = Walk {
            from,
            conds,
            row: r,
            multi,
            hops: 1,
        };
        self.walk(walk, Coll::Owned(target), rest, p)
    }

    fn target(&self, id_or_name: &str, p: &Path) -> keel_core::Result<Arc<Collection>> {
        self.ctx
            .schema
            .collection(id_or_name)
            .ok_or_else(|| self.err(p.pos, &format!("the related collection of {:?} does not exist", p.raw)))
    }

    /// Walks `segments` from `w.row` (a row of `coll`): relation hops join the target table,
    /// the last segment yields the value.
    fn walk(&mut self, mut w: Walk, mut coll: Coll<'_>, segments: &[String], p: &Path) -> keel_core::Result<Resolved> {
        let modifier = p.modifier;
        if matches!(modifier, Some(Modifier::Isset)) {
            return Err(self.err(p.pos, ":isset only applies to @request.* values"));
        }
        let mut i = 0;
        loop {
            let Some(seg) = segments.get(i) else {
                return Err(self.err(p.pos, &format!("expected a field name in {:?}", p.raw)));
            };
            let last = i + 1 == segments.len();
            let Some(field) = coll.field(seg) else {
                if !last {
                    if let Some((c, via)) = seg.split_once("_via_") {
                        coll = Coll::Owned(self.back_relation(&mut w, &coll, c, via, p)?);
                        i += 1;
                        continue;
                    }
                }
                return Err(self.err(p.pos, &format!("unknown field {seg:?} in {:?}", p.raw)));
            };
            if field.hidden && !self.ctx.request.skips_rules(&coll) {
                return Err(self.err(p.pos, &format!("field {seg:?} is hidden and cannot be filtered on")));
            }
            if field.is_encrypted() {
                return Err(self.err(
                    p.pos,
                    &format!("field {seg:?} is encrypted and cannot be filtered on: remove it from the expression"),
                ));
            }
            let col = format!("{}.{}", w.row, self.q(seg));
            let mut kind = kind_of(&field.kind);
            let mut value = col.clone();
            match (&field.kind, last) {
                (FieldKind::Json(_), false) => {
                    // A literal (the dialect quotes it), not a parameter, so folding the comparison
                    // away never leaves an unused parameter; safe because every part is checked
                    // to be `\w+`.
                    let mut path = String::from("$");
                    for s in &segments[i + 1..] {
                        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                            return Err(self.err(p.pos, &format!("invalid JSON key {s:?} in {:?}", p.raw)));
                        }
                        if s.bytes().all(|b| b.is_ascii_digit()) {
                            path.push_str(&format!("[{s}]"));
                        } else {
                            path.push_str(&format!(".{s}"));
                        }
                    }
                    value = self.dialect().json_extract(&col, &path);
                    if modifier == Some(Modifier::Length) {
                        value = self.dialect().json_array_length(&value);
                        kind = Kind::Number;
                    }
                }
                (FieldKind::Relation(opts), false) => {
                    w.hops += 1;
                    if w.hops > MAX_HOPS {
                        return Err(self.err(p.pos, &format!("more than {MAX_HOPS} relations in {:?}", p.raw)));
                    }
                    let target = self.target(&opts.collection_id, p)?;
                    let r_name = self.fresh_name("r");
                    let r = self.q(&r_name);
                    w.from.push(format!("{} AS {r}", self.q(&target.name)));
                    let id = format!("{r}.{}", self.q("id"));
                    if field.is_multiple() {
                        let j = self.fresh("j");
                        w.from.push(format!("{} AS {j}", self.dialect().json_each(&col)));
                        w.conds.push(format!("{id} = {j}.value"));
                        w.multi = true;
                    } else {
                        w.conds.push(format!("{id} = {col}"));
                    }
                    self.reach(&mut w.conds, &target, &r_name, false)?;
                    w.row = r;
                    coll = Coll::Owned(target);
                    i += 1;
                    continue;
                }
                (_, false) => return Err(self.err(p.pos, &format!("field {seg:?} is not a relation in {:?}", p.raw))),
                (_, true) if modifier == Some(Modifier::Length) => {
                    if !field.is_multiple() && !matches!(field.kind, FieldKind::Json(_)) {
                        return Err(self.err(p.pos, &format!(":length needs a multi-valued field, {seg:?} is not")));
                    }
                    value = self.dialect().json_array_length(&col);
                    kind = Kind::Number;
                }
                (_, true) if field.is_multiple() => {
                    let j = self.fresh("j");
                    w.from.push(format!("{} AS {j}", self.dialect().json_each(&col)));
                    value = format!("{j}.value");
                    w.multi = true;
                }
                // A whole json field compares as its stored JSON text (as on SQLite).
                (FieldKind::Json(_), true) => kind = Kind::Text,
                (_, true) => {}
            }
            if last && seg.as_str() == "email" {
                self.email_visibility(&mut w, &coll);
            }
            return self.finish(w, value, kind, p);
        }
    }

    /// `<collection>_via_<field>`: rows of `c` whose relation `via` points at the current row.
    fn back_relation(
        &mut self,
        w: &mut Walk,
        coll: &Collection,
        c: &str,
        via: &str,
        p: &Path,
    ) -> keel_core::Result<Arc<Collection>> {
        let unknown = || self.err(p.pos, &format!("unknown back-relation {c}_via_{via} in {:?}", p.raw));
        let target = self.ctx.schema.collection(c).ok_or_else(unknown)?;
        let field = target.field(via).ok_or_else(unknown)?;
        let FieldKind::Relation(opts) = &field.kind else {
            return Err(unknown());
        };
        if opts.collection_id != coll.id && opts.collection_id != coll.name {
            return Err(unknown());
        }
        if field.hidden && !self.ctx.request.skips_rules(&target) {
            return Err(self.err(p.pos, &format!("field {via:?} is hidden and cannot be filtered on")));
        }
        w.hops += 1;
        if w.hops > MAX_HOPS {
            return Err(self.err(p.pos, &format!("more than {MAX_HOPS} relations in {:?}", p.raw)));
        }
        let r_name = self.fresh_name("r");
        let r = self.q(&r_name);
        let rel = format!("{r}.{}", self.q(via));
        let id = format!("{}.{}", w.row, self.q("id"));
        w.from.push(format!("{} AS {r}", self.q(&target.name)));
        self.reach(&mut w.conds, &target, &r_name, true)?;
        if field.is_multiple() {
            let j = self.fresh("j");
            let each = self.dialect().json_each(&rel);
            w.conds
                .push(format!("EXISTS (SELECT 1 FROM {each} AS {j} WHERE {j}.value = {id})"));
        } else {
            w.conds.push(format!("{rel} = {id}"));
        }
        w.multi = true;
        w.row = r;
        Ok(target)
    }

    /// In a caller's filter, limits a relation hop to the rows of `target` (joined as
    /// `alias`, unquoted) the caller could read directly: the target's `viewRule` for a
    /// forward hop, its `listRule` for a back-relation (`back`). A `null` rule, or a system
    /// collection, makes the hop reach no row. Rules are trusted and reach anything.
    fn reach(
        &mut self,
        conds: &mut Vec<String>,
        target: &Collection,
        alias: &str,
        back: bool,
    ) -> keel_core::Result<()> {
        if self.ctx.origin == Origin::Rule || self.ctx.request.skips_rules(target) {
            return Ok(());
        }
        let (name, rule) = if back {
            ("listRule", &target.list_rule)
        } else {
            ("viewRule", &target.view_rule)
        };
        let rule = if target.name.starts_with('_') {
            None
        } else {
            rule.as_deref()
        };
        match rule {
            None => conds.push("1=0".into()),
            Some(r) if r.trim().is_empty() => {}
            Some(r) => {
                let expr = parser::parse_expr(r, name)?;
                let cond = self.nested_rule(&expr, name, target, alias)?;
                conds.push(format!("({cond})"));
            }
        }
        Ok(())
    }

    /// In a caller's filter, the `email` of an auth collection's row (`w.row`) counts only
    /// when its `emailVisibility` is true or the row is the caller's own (PocketBase's rule):
    /// on the row itself the comparison is guarded (false otherwise); through a relation the
    /// row is left out of the walk, and a single-valued comparison is guarded by its existence.
    fn email_visibility(&mut self, w: &mut Walk, coll: &Collection) {
        if self.ctx.origin == Origin::Rule || !coll.is_auth() || self.ctx.request.skips_rules(coll) {
            return;
        }
        let mut vis = format!("{}.{} = TRUE", w.row, self.q("emailVisibility"));
        if let Some(auth) = &self.ctx.request.auth {
            if auth.collection.id == coll.id {
                let me = self.buf.bind(Value::String(auth.id().to_string()));
                vis = format!("({vis} OR {}.{} = {me})", w.row, self.q("id"));
            }
        }
        if w.from.is_empty() {
            self.guards.push(vis);
            return;
        }
        w.conds.push(vis);
        if !w.multi {
            self.guards.push(format!(
                "EXISTS (SELECT 1 FROM {} WHERE {})",
                w.from.join(", "),
                w.conds.join(" AND ")
            ));
        }
    }

    /// Turns a finished walk into an operand, applying `:lower` and `:each`.
    fn finish(&mut self, w: Walk, mut value: String, kind: Kind, p: &Path) -> keel_core::Result<Resolved> {
        let each = p.modifier == Some(Modifier::Each);
        if each && !w.multi {
            return Err(self.err(p.pos, &format!(":each needs a multi-valued field, {:?} is not", p.raw)));
        }
        let mut kind = kind;
        if p.modifier == Some(Modifier::Lower) {
            if self.dialect().strict_types() && kind != Kind::Text {
                let text = self
                    .dialect()
                    .cast(&value, super::compare::value_type(kind), keel_sql::ValueType::Text);
                value = text;
                kind = Kind::Text;
            }
            value = format!("LOWER({value})");
        }
        if w.multi {
            return Ok(Resolved::Multi {
                src: Source {
                    from: w.from,
                    conds: w.conds,
                    value,
                },
                kind,
                each,
            });
        }
        if w.from.is_empty() {
            return Ok(Resolved::Sql { expr: value, kind });
        }
        let mut sql = format!("(SELECT {value} FROM {}", w.from.join(", "));
        if !w.conds.is_empty() {
            sql.push_str(&format!(" WHERE {}", w.conds.join(" AND ")));
        }
        sql.push_str(" LIMIT 1)");
        Ok(Resolved::Sql { expr: sql, kind })
    }
}
