//! Compiles an AST to SQL: the boolean structure, `@collection` scopes and fresh aliases.
//! Operands are resolved in `resolve.rs`, comparisons built in `compare.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::ast::{Cmp, Expr, Operand, Root};
use super::{collection_forbidden, invalid, CompileCtx, Origin};
use crate::schema::Collection;
use keel_sql::{Dialect, SqlBuf};

/// A condition, folded when it is known at compile time.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    True,
    False,
    Sql(String),
}

impl Cond {
    pub(crate) fn into_sql(self) -> String {
        match self {
            Cond::True => "1=1".into(),
            Cond::False => "1=0".into(),
            Cond::Sql(s) => s,
        }
    }

    /// All of `parts`. A false part makes the result false, but SQL parts are kept
    /// (`1=0 AND …`) so every parameter already bound stays referenced.
    pub(crate) fn all(parts: Vec<Cond>) -> Cond {
        Cond::join(parts, "AND", true)
    }

    /// Any of `parts` (SQL parts are kept next to a true part, as in [`Cond::all`]).
    pub(crate) fn any(parts: Vec<Cond>) -> Cond {
        Cond::join(parts, "OR", false)
    }

    /// `identity` is the value that can be dropped (`true` for AND, `false` for OR).
    fn join(parts: Vec<Cond>, op: &str, identity: bool) -> Cond {
        let mut sql = Vec::new();
        let mut absorbed = false;
        for p in parts {
            match p {
                Cond::True if identity => {}
                Cond::False if !identity => {}
                Cond::True | Cond::False => absorbed = true,
                Cond::Sql(s) => sql.push(s),
            }
        }
        let absorbing = if identity { Cond::False } else { Cond::True };
        match (absorbed, sql.is_empty()) {
            (true, true) => absorbing,
            (false, true) => {
                if identity {
                    Cond::True
                } else {
                    Cond::False
                }
            }
            (true, false) => {
                sql.insert(0, absorbing.into_sql());
                Cond::Sql(balanced(sql, op))
            }
            (false, false) => Cond::Sql(balanced(sql, op)),
        }
    }

    /// True when `self` is false or NULL (SQL's three-valued logic folded to two).
    pub(crate) fn not_true(self) -> Cond {
        match self {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            Cond::Sql(s) => Cond::Sql(format!("(CASE WHEN {s} THEN 0 ELSE 1 END = 1)")),
        }
    }
}

/// Joins with `op` as a balanced tree of parentheses, so long chains stay shallow for the
/// SQL parser (SQLite limits expression depth).
fn balanced(mut parts: Vec<String>, op: &str) -> String {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let right = parts.split_off(parts.len() / 2);
    format!("({} {op} {})", balanced(parts, op), balanced(right, op))
}

/// An `@collection.<name>[:alias]` row in scope, and its SQL alias.
pub(crate) struct Scope {
    pub key: String,
    pub alias: String,
    pub collection: Arc<Collection>,
}

/// One compilation: the context, the output buffer and the alias counter.
pub(crate) struct Compiler<'c, 'a> {
    pub ctx: &'c CompileCtx<'a>,
    pub buf: &'c mut SqlBuf,
    pub field: &'c str,
    next_alias: usize,
    pub scopes: Vec<Scope>,
    /// Conditions the comparison being compiled holds only under (the visibility of an
    /// auth record's email); `cmp` ANDs and clears them.
    pub guards: Vec<String>,
}

/// The `@collection` key (`name` or `name:alias`) of an operand.
fn collection_key(o: &Operand) -> Option<(String, &str)> {
    match o {
        Operand::Path(p) => match &p.root {
            Root::Collection { name, alias: Some(a) } => Some((format!("{name}:{a}"), name.as_str())),
            Root::Collection { name, alias: None } => Some((name.clone(), name.as_str())),
            _ => None,
        },
        _ => None,
    }
}

impl<'c, 'a> Compiler<'c, 'a> {
    pub(crate) fn new(ctx: &'c CompileCtx<'a>, buf: &'c mut SqlBuf, field: &'c str) -> Self {
        Compiler {
            ctx,
            buf,
            field,
            next_alias: 0,
            scopes: Vec::new(),
            guards: Vec::new(),
        }
    }

    pub(crate) fn run(mut self, expr: &Expr) -> keel_core::Result<String> {
        let first = self.buf.params.len() + 1;
        let sql = self.expr(expr)?.into_sql();
        Ok(self.keep_params(first, sql))
    }

    /// Every parameter bound from `first` on stays referenced by the condition (engines
    /// refuse unused ones): a comparison folded at compile time may drop an operand whose
    /// SQL bound parameters (a related collection's rule); those are mentioned in a no-op.
    fn keep_params(&self, first: usize, sql: String) -> String {
        let d = self.buf.dialect();
        let unused: Vec<String> = (first..=self.buf.params.len())
            .map(|n| d.placeholder(n))
            .filter(|p| !mentions(&sql, p))
            .map(|p| format!("({p} IS NULL OR 1=1)"))
            .collect();
        if unused.is_empty() {
            sql
        } else {
            format!("({sql} AND {})", unused.join(" AND "))
        }
    }

    /// Compiles `expr`, a rule of `collection` (trusted), as a condition on the row `alias`
    /// (unquoted) of the surrounding query, sharing this compilation's buffer and aliases.
    pub(crate) fn nested_rule(
        &mut self,
        expr: &Expr,
        field: &str,
        collection: &crate::schema::Collection,
        alias: &str,
    ) -> keel_core::Result<String> {
        let ctx = CompileCtx {
            collection,
            alias,
            schema: self.ctx.schema,
            request: self.ctx.request,
            now: self.ctx.now,
            origin: Origin::Rule,
        };
        let mut sub = Compiler::new(&ctx, self.buf, field);
        sub.next_alias = self.next_alias;
        let out = sub.expr(expr);
        let next = sub.next_alias;
        self.next_alias = next;
        Ok(out?.into_sql())
    }

    pub(crate) fn dialect(&self) -> &'static dyn Dialect {
        self.buf.dialect()
    }

    pub(crate) fn q(&self, ident: &str) -> String {
        self.buf.dialect().quote_ident(ident)
    }

    /// A fresh, quoted alias like `"__r3"`.
    pub(crate) fn fresh(&mut self, prefix: &str) -> String {
        let name = self.fresh_name(prefix);
        self.q(&name)
    }

    /// A fresh, unquoted alias like `__r3`.
    pub(crate) fn fresh_name(&mut self, prefix: &str) -> String {
        self.next_alias += 1;
        format!("__{prefix}{}", self.next_alias)
    }

    pub(crate) fn err(&self, pos: usize, what: &str) -> keel_core::Error {
        invalid(self.field, pos, what)
    }

    fn expr(&mut self, e: &Expr) -> keel_core::Result<Cond> {
        match e {
            Expr::Cmp(c) => self.grouped(&[c]),
            Expr::Or(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    out.push(self.expr(p)?);
                }
                Ok(Cond::any(out))
            }
            Expr::And(parts) => {
                // Comparisons naming the same `@collection` rows are compiled under one EXISTS.
                let mut groups: Vec<(BTreeSet<String>, Vec<&Cmp>)> = Vec::new();
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    match p {
                        Expr::Cmp(c) => {
                            let keys = self.unscoped_keys(c);
                            match groups.iter_mut().find(|(k, _)| *k == keys) {
                                Some((_, list)) => list.push(c),
                                None => groups.push((keys, vec![c])),
                            }
                        }
                        other => out.push(self.expr(other)?),
                    }
                }
                for (_, cmps) in groups {
                    out.push(self.grouped(&cmps)?);
                }
                Ok(Cond::all(out))
            }
        }
    }

    /// The `@collection` keys of `c` that are not yet in scope.
    fn unscoped_keys(&self, c: &Cmp) -> BTreeSet<String> {
        [&c.left, &c.right]
            .into_iter()
            .filter_map(collection_key)
            .map(|(k, _)| k)
            .filter(|k| !self.scopes.iter().any(|s| &s.key == k))
            .collect()
    }

    /// Compiles comparisons that share the same unscoped `@collection` keys: one EXISTS
    /// over those collections (or none) around all of them.
    fn grouped(&mut self, cmps: &[&Cmp]) -> keel_core::Result<Cond> {
        let Some(first) = cmps.first() else {
            return Ok(Cond::True);
        };
        let mut new_scopes = Vec::new();
        for o in [&first.left, &first.right] {
            let Some((key, name)) = collection_key(o) else { continue };
            if self
                .scopes
                .iter()
                .chain(new_scopes.iter())
                .any(|s: &Scope| s.key == key)
            {
                continue;
            }
            let collection = self
                .ctx
                .schema
                .collection(name)
                .ok_or_else(|| self.err(first.pos, &format!("unknown collection {name:?} in @collection")))?;
            if self.ctx.origin == Origin::Filter && !self.ctx.request.skips_rules(&collection) {
                return Err(collection_forbidden());
            }
            let alias = self.fresh("c");
            new_scopes.push(Scope { key, alias, collection });
        }
        let from: Vec<String> = new_scopes
            .iter()
            .map(|s| format!("{} AS {}", self.q(&s.collection.name), s.alias))
            .collect();
        let pushed = new_scopes.len();
        self.scopes.extend(new_scopes);
        let mut conds = Vec::with_capacity(cmps.len());
        let mut result = Ok(());
        for c in cmps {
            match self.cmp(c) {
                Ok(cond) => conds.push(cond),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.scopes.truncate(self.scopes.len() - pushed);
        result?;
        let inner = Cond::all(conds);
        if from.is_empty() {
            return Ok(inner);
        }
        Ok(match inner {
            Cond::False => Cond::False,
            inner => Cond::Sql(format!(
                "EXISTS (SELECT 1 FROM {} WHERE {})",
                from.join(", "),
                inner.into_sql()
            )),
        })
    }

    fn cmp(&mut self, c: &Cmp) -> keel_core::Result<Cond> {
        let outer = self.guards.len();
        let left = self.resolve(&c.left)?;
        let right = self.resolve(&c.right)?;
        let cond = self.quantify(left, c.op, c.any, right)?;
        let guards = self.guards.split_off(outer);
        if guards.is_empty() {
            return Ok(cond);
        }
        let mut parts: Vec<Cond> = guards.into_iter().map(Cond::Sql).collect();
        parts.push(cond);
        Ok(Cond::all(parts))
    }
}

/// Whether `sql` contains the placeholder `p` as a whole token (`?1` is not in `?12`).
fn mentions(sql: &str, p: &str) -> bool {
    sql.match_indices(p)
        .any(|(i, _)| !sql[i + p.len()..].starts_with(|c: char| c.is_ascii_digit()))
}
