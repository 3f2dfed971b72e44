//! Builds the SQL of one comparison.
//!
//! - Multi-valued operands are quantified over their elements: `?op` = at least one element
//!   matches, a plain `op` or `:each` = every element matches. An empty set behaves as one
//!   `null` element (like PocketBase's LEFT JOIN), so `tags = ""` holds for an empty `tags`.
//! - `=`/`!=` treat `null` and the operand type's zero value (`""`, `0`, `false`) alike:
//!   `x = null` and `x = ""` both compile to `COALESCE(x, zero) = zero`; `x != "a"` is true
//!   when `x` is NULL. `>`, `<`, … compare directly (a NULL side is never true).
//! - `~`/`!~` are `LIKE … ESCAPE '\'`; a constant pattern without an unescaped `%` has its
//!   `%`, `_` and `\` escaped and is wrapped in `%…%` (PocketBase's rule).
//! - On engines with strict types (PostgreSQL) both sides get one type, chosen as SQLite's
//!   affinity would: a constant is converted to the column's kind (`"5"` to a number for a
//!   number field; a text that is no number makes `=` false, `!=` true, and orders after
//!   every number); two columns of different kinds compare as text, or as JSON when one is
//!   a JSON value. Constants compared with constants are decided here. On SQLite the SQL is
//!   exactly what it was without these steps.

use std::cmp::Ordering;

use serde_json::Value;

use super::ast::Op;
use super::compile::{Compiler, Cond};
use super::resolve::{Kind, Resolved, Source};
use keel_sql::ValueType;

/// One side of a scalar comparison.
enum Side {
    Const(Value),
    Sql(String, Kind),
    /// A guest's `@request.auth.*`.
    Absent,
}

fn is_null_sql(s: &Side) -> bool {
    matches!(s, Side::Sql(x, _) if x == "NULL")
}

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Null) || v.as_str() == Some("")
}

fn zero(kind: Kind) -> Value {
    match kind {
        Kind::Number => Value::from(0),
        Kind::Bool => Value::Bool(false),
        Kind::Text | Kind::Any => Value::String(String::new()),
    }
}

/// A constant as a bindable scalar (objects become their JSON text).
fn scalar_value(v: Value) -> Value {
    match v {
        Value::Object(_) | Value::Array(_) => Value::String(v.to_string()),
        other => other,
    }
}

/// The value type an operand of `kind` has in SQL.
pub(crate) fn value_type(kind: Kind) -> ValueType {
    match kind {
        Kind::Text => ValueType::Text,
        Kind::Number => ValueType::Number,
        Kind::Bool => ValueType::Bool,
        Kind::Any => ValueType::Json,
    }
}

/// The type two operands of different kinds compare as on a strict engine.
fn common(a: Kind, b: Kind) -> Kind {
    match (a, b) {
        _ if a == b => a,
        (Kind::Text, _) | (_, Kind::Text) => Kind::Text,
        (Kind::Any, _) | (_, Kind::Any) => Kind::Any,
        _ => Kind::Number,
    }
}

/// A number as SQLite's numeric affinity reads a text (`None`: not a number).
fn numeric(v: &Value) -> Option<Value> {
    match v {
        Value::Number(_) => Some(v.clone()),
        Value::Bool(b) => Some(Value::from(i64::from(*b))),
        Value::String(s) => {
            let f = s.trim().parse::<f64>().ok().filter(|f| f.is_finite())?;
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                Some(Value::from(f as i64))
            } else {
                serde_json::Number::from_f64(f).map(Value::Number)
            }
        }
        _ => None,
    }
}

/// Constant `v` converted to `kind` for a strict engine (`None`: it cannot be one, so
/// SQLite would compare it as another type and never find it equal).
fn convert(v: Value, kind: Kind) -> Option<Value> {
    if v.is_null() {
        return Some(v);
    }
    match kind {
        Kind::Text => Some(Value::String(match v {
            Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
            other => as_text(&other),
        })),
        Kind::Number => numeric(&v),
        Kind::Bool => {
            let x = numeric(&v)?.as_f64()?;
            (x == 0.0 || x == 1.0).then_some(Value::Bool(x == 1.0))
        }
        // A text holding a JSON array or object compares as that JSON (SQLite compares the
        // stored JSON text); anything else as the JSON value it is.
        Kind::Any => Some(Value::String(match &v {
            Value::String(s) if s.trim_start().starts_with(['[', '{']) => match serde_json::from_str::<Value>(s) {
                Ok(j) => j.to_string(),
                Err(_) => v.to_string(),
            },
            _ => v.to_string(),
        })),
    }
}

/// How SQLite orders two constants (no affinity on either side): NULL is unordered,
/// numbers (and booleans, as 0/1) before texts, texts byte-wise.
fn const_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::String(_), _) => Some(Ordering::Greater),
        (_, Value::String(_)) => Some(Ordering::Less),
        _ => numeric(a)?.as_f64()?.partial_cmp(&numeric(b)?.as_f64()?),
    }
}

fn holds(op: Op, ord: Ordering) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Neq => ord != Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Gte => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        _ => ord != Ordering::Greater,
    }
}

fn fold(b: bool) -> Cond {
    if b {
        Cond::True
    } else {
        Cond::False
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// PocketBase's LIKE normalization: without an unescaped `%` the value is escaped and
/// wrapped in `%…%`; with one it is used as written (a trailing lone `\` is doubled).
pub(crate) fn like_pattern(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut has_wildcard = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '%' => {
                has_wildcard = true;
                break;
            }
            _ => i += 1,
        }
    }
    let mut out = String::with_capacity(s.len() + 2);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some(n @ ('\\' | '%' | '_')) => {
                    out.push('\\');
                    out.push(*n);
                    i += 2;
                    continue;
                }
                Some(n) if has_wildcard => {
                    out.push('\\');
                    out.push(*n);
                    i += 2;
                    continue;
                }
                _ => {
                    out.push_str("\\\\");
                    i += 1;
                    continue;
                }
            }
        }
        if !has_wildcard && (c == '%' || c == '_') {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
    if has_wildcard {
        out
    } else {
        format!("%{out}%")
    }
}

impl Compiler<'_, '_> {
    /// Compiles `l op r`, quantifying over multi-valued sides.
    pub(crate) fn quantify(&mut self, l: Resolved, op: Op, any: bool, r: Resolved) -> keel_core::Result<Cond> {
        // The element an empty set stands for: a stored NULL.
        let null = |kind| Resolved::Sql {
            expr: "NULL".into(),
            kind,
        };
        let l = match self.as_multi(l) {
            Resolved::Multi { src, kind, each } => {
                let elem = Resolved::Sql {
                    expr: src.value.clone(),
                    kind,
                };
                let inner = self.quantify(elem, op, any, r.clone())?;
                let empty = self.quantify(null(kind), op, any, r)?;
                return Ok(over(&src, any && !each, inner, empty));
            }
            other => other,
        };
        let r = match self.as_multi(r) {
            Resolved::Multi { src, kind, each } => {
                let elem = Resolved::Sql {
                    expr: src.value.clone(),
                    kind,
                };
                let inner = self.quantify(l.clone(), op, any, elem)?;
                let empty = self.quantify(l, op, any, null(kind))?;
                return Ok(over(&src, any && !each, inner, empty));
            }
            other => other,
        };
        let side = |x: Resolved| match x {
            Resolved::Const { value, .. } => Side::Const(scalar_value(value)),
            Resolved::Sql { expr, kind } => Side::Sql(expr, kind),
            // `as_multi` turned every multi-valued operand into elements above.
            Resolved::Multi { src, kind, .. } => Side::Sql(src.value, kind),
            Resolved::Absent => Side::Absent,
        };
        Ok(self.scalar(side(l), op, side(r)))
    }

    /// A constant JSON array becomes a multi-valued operand over `json_each(?)`.
    fn as_multi(&mut self, x: Resolved) -> Resolved {
        match x {
            Resolved::Const {
                value: Value::Array(items),
                each,
            } => {
                let p = self.buf.bind(Value::String(Value::Array(items).to_string()));
                let j = self.fresh("j");
                let from = vec![format!("{} AS {j}", self.dialect().json_each(&p))];
                Resolved::Multi {
                    src: Source {
                        from,
                        conds: vec![],
                        value: format!("{j}.value"),
                    },
                    // Elements are compared as text where types are strict (the dialect's
                    // `json_each` yields text); on SQLite the kind only picks `""` as zero.
                    kind: Kind::Text,
                    each,
                }
            }
            other => other,
        }
    }

    fn strict(&self) -> bool {
        self.dialect().strict_types()
    }

    /// Binds constant `v` to be compared with an operand of `kind`: as it is on SQLite; on a
    /// strict engine converted and typed (`None` when it cannot be of that kind).
    fn bind_for(&mut self, v: Value, kind: Kind) -> Option<String> {
        if !self.strict() {
            return Some(self.buf.bind(v));
        }
        let v = convert(v, kind)?;
        let p = self.buf.bind(v);
        Some(self.dialect().typed_param(&p, value_type(kind)))
    }

    /// `expr` of `from` as `to` (unchanged on SQLite).
    fn cast(&self, expr: String, from: Kind, to: Kind) -> String {
        if !self.strict() || from == to {
            return expr;
        }
        self.dialect().cast(&expr, value_type(from), value_type(to))
    }

    /// A side as SQL text (for LIKE): a constant bound as text where types are strict.
    fn text_of(&mut self, s: Side) -> String {
        match s {
            Side::Const(v) if self.strict() => {
                let p = self.buf.bind(Value::String(as_text(&v)));
                self.dialect().typed_param(&p, ValueType::Text)
            }
            Side::Const(v) => self.buf.bind(v),
            Side::Sql(x, k) => self.cast(x, k, Kind::Text),
            Side::Absent => self.buf.bind(Value::Null),
        }
    }

    /// `l op r` for the ordering operators.
    fn order(&mut self, l: Side, op: Op, r: Side) -> Cond {
        let sym = match op {
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            _ => "<=",
        };
        if !self.strict() {
            let (a, b) = (self.text_or_bind(l), self.text_or_bind(r));
            return Cond::Sql(format!("{a} {sym} {b}"));
        }
        match (l, r) {
            (Side::Const(a), Side::Const(b)) => fold(const_cmp(&a, &b).is_some_and(|o| holds(op, o))),
            (Side::Sql(x, k), Side::Const(c)) => match self.bind_for(c, k) {
                Some(p) => Cond::Sql(self.dialect().order_cmp(&x, sym, &p, value_type(k))),
                // A text that is no number, beside a number: every number orders before it.
                None if matches!(op, Op::Lt | Op::Lte) => Cond::Sql(format!("{x} IS NOT NULL")),
                None => Cond::False,
            },
            (Side::Const(c), Side::Sql(x, k)) => match self.bind_for(c, k) {
                Some(p) => Cond::Sql(self.dialect().order_cmp(&p, sym, &x, value_type(k))),
                None if matches!(op, Op::Gt | Op::Gte) => Cond::Sql(format!("{x} IS NOT NULL")),
                None => Cond::False,
            },
            (Side::Sql(a, ka), Side::Sql(b, kb)) => {
                let t = common(ka, kb);
                let (a, b) = (self.cast(a, ka, t), self.cast(b, kb, t));
                Cond::Sql(self.dialect().order_cmp(&a, sym, &b, value_type(t)))
            }
            _ => Cond::False,
        }
    }

    /// A side's SQL, a constant bound as it is (SQLite).
    fn text_or_bind(&mut self, s: Side) -> String {
        match s {
            Side::Const(v) => self.buf.bind(v),
            Side::Sql(x, _) => x,
            Side::Absent => self.buf.bind(Value::Null),
        }
    }

    fn scalar(&mut self, l: Side, op: Op, r: Side) -> Cond {
        let absent = matches!(l, Side::Absent) || matches!(r, Side::Absent);
        match op {
            Op::Eq | Op::Neq if absent => {
                let other = if matches!(l, Side::Absent) { r } else { l };
                match other {
                    Side::Sql(..) if op == Op::Eq => Cond::False,
                    Side::Sql(..) => Cond::True,
                    Side::Absent => self.equal(Side::Const(Value::Null), op == Op::Eq, Side::Const(Value::Null)),
                    c @ Side::Const(_) => self.equal(c, op == Op::Eq, Side::Const(Value::Null)),
                }
            }
            Op::NotLike if absent => Cond::True,
            _ if absent => Cond::False,
            // The NULL element of an empty set: known at compile time.
            _ if is_null_sql(&l) || is_null_sql(&r) => match (op, l, r) {
                (Op::Eq | Op::Neq, Side::Sql(x, _), Side::Const(c))
                | (Op::Eq | Op::Neq, Side::Const(c), Side::Sql(x, _))
                    if x == "NULL" =>
                {
                    let equal = is_empty(&c);
                    if equal == (op == Op::Eq) {
                        Cond::True
                    } else {
                        Cond::False
                    }
                }
                (Op::Eq | Op::Neq, l, r) => self.equal(l, op == Op::Eq, r),
                _ => Cond::False,
            },
            Op::Eq | Op::Neq => self.equal(l, op == Op::Eq, r),
            Op::Like | Op::NotLike => {
                let rhs = match r {
                    Side::Const(v) => self.buf.bind(Value::String(like_pattern(&as_text(&v)))),
                    Side::Sql(x, k) => format!("('%' || {} || '%')", self.cast(x, k, Kind::Text)),
                    Side::Absent => self.buf.bind(Value::Null),
                };
                let lhs = self.text_of(l);
                Cond::Sql(self.buf.dialect().like(&lhs, &rhs, op == Op::NotLike))
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => self.order(l, op, r),
        }
    }

    /// `=` (or `!=` when `!eq`) with PocketBase's null/empty handling.
    fn equal(&mut self, l: Side, eq: bool, r: Side) -> Cond {
        let (sym, fold_empty) = if eq { ("=", Cond::True) } else { ("<>", Cond::False) };
        match (l, r) {
            (Side::Const(a), Side::Const(b)) => match (is_empty(&a), is_empty(&b)) {
                (true, true) => fold_empty,
                (true, false) | (false, true) => fold_empty.not_true(),
                (false, false) if self.strict() => {
                    fold(const_cmp(&a, &b).is_some_and(|o| holds(if eq { Op::Eq } else { Op::Neq }, o)))
                }
                (false, false) => {
                    let (a, b) = (self.buf.bind(a), self.buf.bind(b));
                    Cond::Sql(format!("{a} {sym} {b}"))
                }
            },
            (Side::Sql(x, kind), Side::Const(c)) | (Side::Const(c), Side::Sql(x, kind)) => {
                if is_empty(&c) {
                    let z = self.zero(kind);
                    Cond::Sql(format!("COALESCE({x}, {z}) {sym} {z}"))
                } else {
                    match self.bind_for(c, kind) {
                        Some(p) if eq => Cond::Sql(format!("{x} = {p}")),
                        Some(p) => Cond::Sql(format!("({x} <> {p} OR {x} IS NULL)")),
                        // Never equal (a strict engine's mismatched types).
                        None => fold(!eq),
                    }
                }
            }
            (Side::Absent, _) | (_, Side::Absent) => Cond::False,
            (Side::Sql(a, ka), Side::Sql(b, kb)) => {
                let za = self.zero(ka);
                let zb = if ka == kb { za.clone() } else { self.zero(kb) };
                let t = common(ka, kb);
                let a = self.cast(format!("COALESCE({a}, {za})"), ka, t);
                let b = self.cast(format!("COALESCE({b}, {zb})"), kb, t);
                Cond::Sql(format!("{a} {sym} {b}"))
            }
        }
    }

    /// The bound zero value of `kind` (what `null` compares as).
    fn zero(&mut self, kind: Kind) -> String {
        match self.bind_for(zero(kind), kind) {
            Some(p) => p,
            None => self.buf.bind(Value::Null),
        }
    }
}

/// Quantifies `inner` (the comparison for one element of `src`) over `src`'s rows; `empty`
/// is the comparison for the `null` element an empty set stands for.
fn over(src: &Source, any: bool, inner: Cond, empty: Cond) -> Cond {
    let from = src.from.join(", ");
    let exists = |extra: Option<String>| {
        let mut conds = src.conds.clone();
        conds.extend(extra);
        if conds.is_empty() {
            format!("EXISTS (SELECT 1 FROM {from})")
        } else {
            format!("EXISTS (SELECT 1 FROM {from} WHERE {})", conds.join(" AND "))
        }
    };
    // `inner` references every parameter of `src`, so the emptiness checks can be left out
    // when `empty` is known without losing a bound parameter.
    if any {
        let some = Cond::Sql(exists(Some(inner.into_sql())));
        match empty {
            Cond::False => some,
            empty => Cond::any(vec![
                some,
                Cond::all(vec![Cond::Sql(format!("NOT {}", exists(None))), empty]),
            ]),
        }
    } else {
        let counterexample = Cond::Sql(format!("NOT {}", exists(Some(inner.not_true().into_sql()))));
        match empty {
            Cond::True => counterexample,
            empty => Cond::all(vec![counterexample, Cond::any(vec![Cond::Sql(exists(None)), empty])]),
        }
    }
}
