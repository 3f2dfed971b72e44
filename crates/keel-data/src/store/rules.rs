//! Rules and filters: parsed once (cached by source text) and compiled per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use keel_core::Result;

use crate::filter::{self, ast::Expr, CompileCtx, Origin, SchemaLookup};
use crate::request::RequestInfo;
use crate::schema::Collection;
use keel_sql::SqlBuf;

/// Most expressions kept per field name before the cache is cleared.
const MAX_CACHED: usize = 2048;

/// Parsed expressions by field name (`filter`, `listRule`, …) and source text.
#[derive(Default)]
pub(crate) struct ExprCache {
    map: Mutex<HashMap<String, HashMap<String, Arc<Expr>>>>,
}

impl ExprCache {
    /// The parsed form of `src` (errors name `field`).
    pub fn parse(&self, src: &str, field: &str) -> Result<Arc<Expr>> {
        if let Some(e) = self.lock().get(field).and_then(|m| m.get(src)) {
            return Ok(e.clone());
        }
        let expr = Arc::new(filter::parse_for(src, field)?);
        let mut map = self.lock();
        let per_field = map.entry(field.to_string()).or_default();
        if per_field.len() >= MAX_CACHED {
            per_field.clear();
        }
        per_field.insert(src.to_string(), expr.clone());
        Ok(expr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Arc<Expr>>>> {
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
        let expr = self.exprs.parse(src, field)?;
        let ctx = CompileCtx {
            collection: self.collection,
            alias: self.alias,
            schema: self.schema,
            request: self.req,
            now: Utc::now(),
            origin,
        };
        filter::compile(&expr, field, &ctx, buf).map(Some)
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
