//! Rules and filters: a collection's rules parsed once (cached by source text), a caller's
//! filter parsed for its request; both compiled per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use keel_core::Result;

use crate::filter::{self, ast::Expr, CompileCtx, Origin, SchemaLookup};
use crate::request::RequestInfo;
use crate::schema::Collection;
use keel_sql::SqlBuf;

/// Most rules kept before the cache is cleared (rules edited away stay until then).
const MAX_CACHED: usize = 2048;

/// Parsed rules by source text. Only rules, which superusers write into the schema, are
/// kept: a caller's filter is usually new text on every request (ids, search words, a
/// window of values), and keeping what callers send let any guest fill the process with
/// parse trees (2,000 filters of 1,500 comparisons held 1 GB before the count limit
/// cleared them). Parsing a filter costs about what looking it up did.
#[derive(Default)]
pub(crate) struct ExprCache {
    map: Mutex<HashMap<String, Arc<Expr>>>,
}

impl ExprCache {
    /// The parsed form of the rule `src` (a parse error is a 400 naming `field`; parsing
    /// does not depend on the field, so one entry serves every rule with this text).
    pub fn rule(&self, src: &str, field: &str) -> Result<Arc<Expr>> {
        if let Some(e) = self.lock().get(src) {
            return Ok(e.clone());
        }
        let expr = Arc::new(filter::parse_for(src, field)?);
        let mut map = self.lock();
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(src.to_string(), expr.clone());
        Ok(expr)
    }

    /// How many rules are kept (tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Expr>>> {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// Where a rule or filter is compiled.
pub(crate) struct RuleCtx<'a> {
    pub exprs: &'a ExprCache,
    pub schema: &'a dyn SchemaLookup,
    pub collection: &'a Collection,
    pub alias: &'a str,
    pub req: &'a RequestInfo,
}

impl RuleCtx<'_> {
    /// Compiles the rule `src` (trusted: written by a superuser) into an SQL condition
    /// (`None` when empty: no condition). Errors name `field` (`listRule`, …).
    pub fn condition(&self, src: &str, field: &str, buf: &mut SqlBuf) -> Result<Option<String>> {
        self.compile(src, field, Origin::Rule, buf)
    }

    /// Compiles a caller's `filter`: it reaches only what the caller could read directly
    /// ([`Origin::Filter`]). Errors name `filter`.
    pub fn user_filter(&self, src: &str, buf: &mut SqlBuf) -> Result<Option<String>> {
        self.compile(src, "filter", Origin::Filter, buf)
    }

    /// Compiles `src` as written by `origin`.
    pub fn compile(&self, src: &str, field: &str, origin: Origin, buf: &mut SqlBuf) -> Result<Option<String>> {
        if src.trim().is_empty() {
            return Ok(None);
        }
        let (cached, parsed);
        let expr: &Expr = match origin {
            Origin::Rule => {
                cached = self.exprs.rule(src, field)?;
                &cached
            }
            Origin::Filter => {
                parsed = filter::parse_for(src, field)?;
                &parsed
            }
        };
        let ctx = CompileCtx {
            collection: self.collection,
            alias: self.alias,
            schema: self.schema,
            request: self.req,
            now: Utc::now(),
            origin,
        };
        filter::compile(expr, field, &ctx, buf).map(Some)
    }
}

/// Joins conditions with AND (`1=1` when there are none).
pub(crate) fn and_all(conds: &[Option<String>]) -> String {
    let parts: Vec<&str> = conds.iter().flatten().map(String::as_str).collect();
    if parts.is_empty() {
        return "1=1".into();
    }
    parts.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::fuzzing::Schema;
    use crate::schema::{CollectionType, Field, FieldKind, NumberOptions};
    use keel_sql::sqlite::SQLITE;

    fn ctx_parts() -> (Schema, Arc<Collection>) {
        let mut c = Collection::blank("items", CollectionType::Base);
        c.fields
            .push(Field::new("n", FieldKind::Number(NumberOptions::default())));
        let c = Arc::new(c);
        (Schema(vec![c.clone()]), c)
    }

    #[test]
    fn rules_are_kept_and_callers_filters_are_not() {
        let (schema, c) = ctx_parts();
        let exprs = ExprCache::default();
        let req = RequestInfo::default();
        let ctx = RuleCtx {
            exprs: &exprs,
            schema: &schema,
            collection: &c,
            alias: "t",
            req: &req,
        };
        for x in 0..100 {
            let mut buf = SqlBuf::new(&SQLITE);
            let sql = ctx
                .user_filter(&format!("n >= {x} && n < {}", x + 50), &mut buf)
                .unwrap();
            assert!(sql.is_some_and(|s| s.contains("\"n\"")));
            assert_eq!(buf.params.len(), 2);
        }
        assert_eq!(exprs.len(), 0, "a caller's filters must not be kept");

        for _ in 0..3 {
            let mut buf = SqlBuf::new(&SQLITE);
            assert!(ctx.condition("n > 5", "listRule", &mut buf).unwrap().is_some());
        }
        assert_eq!(exprs.len(), 1, "one rule, parsed once");

        // A parse error names the field it came from, cached or not.
        let mut buf = SqlBuf::new(&SQLITE);
        let err = format!("{:?}", ctx.user_filter("n >", &mut buf).unwrap_err());
        assert!(err.contains("filter"), "{err}");
        let err = ctx.condition("n >", "viewRule", &mut buf).unwrap_err();
        assert!(format!("{err:?}").contains("viewRule"), "{err:?}");
    }
}
