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

use serde_json::Value;

use super::ast::Op;
use super::compile::{Compiler, Cond};
use super::resolve::{Kind, Resolved, Source};

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
                    kind: Kind::Any,
                    each,
                }
            }
            other => other,
        }
    }

    fn sql_of(&mut self, s: Side) -> (String, Kind) {
        match s {
            Side::Const(v) => (self.buf.bind(v), Kind::Any),
            Side::Sql(x, k) => (x, k),
            Side::Absent => (self.buf.bind(Value::Null), Kind::Any),
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
                    Side::Sql(x, _) => format!("('%' || {x} || '%')"),
                    Side::Absent => self.buf.bind(Value::Null),
                };
                let (lhs, _) = self.sql_of(l);
                Cond::Sql(self.buf.dialect().like(&lhs, &rhs, op == Op::NotLike))
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let (a, _) = self.sql_of(l);
                let (b, _) = self.sql_of(r);
                let sym = match op {
                    Op::Gt => ">",
                    Op::Gte => ">=",
                    Op::Lt => "<",
                    _ => "<=",
                };
                Cond::Sql(format!("{a} {sym} {b}"))
            }
        }
    }

    /// `=` (or `!=` when `!eq`) with PocketBase's null/empty handling.
    fn equal(&mut self, l: Side, eq: bool, r: Side) -> Cond {
        let (sym, fold) = if eq { ("=", Cond::True) } else { ("<>", Cond::False) };
        match (l, r) {
            (Side::Const(a), Side::Const(b)) => match (is_empty(&a), is_empty(&b)) {
                (true, true) => fold,
                (true, false) | (false, true) => fold.not_true(),
                (false, false) => {
                    let (a, b) = (self.buf.bind(a), self.buf.bind(b));
                    Cond::Sql(format!("{a} {sym} {b}"))
                }
            },
            (Side::Sql(x, kind), Side::Const(c)) | (Side::Const(c), Side::Sql(x, kind)) => {
                if is_empty(&c) {
                    let z = self.buf.bind(zero(kind));
                    Cond::Sql(format!("COALESCE({x}, {z}) {sym} {z}"))
                } else {
                    let p = self.buf.bind(c);
                    if eq {
                        Cond::Sql(format!("{x} = {p}"))
                    } else {
                        Cond::Sql(format!("({x} <> {p} OR {x} IS NULL)"))
                    }
                }
            }
            (Side::Absent, _) | (_, Side::Absent) => Cond::False,
            (Side::Sql(a, ka), Side::Sql(b, kb)) => {
                let za = self.buf.bind(zero(ka));
                let zb = if ka == kb { za.clone() } else { self.buf.bind(zero(kb)) };
                Cond::Sql(format!("COALESCE({a}, {za}) {sym} COALESCE({b}, {zb})"))
            }
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
