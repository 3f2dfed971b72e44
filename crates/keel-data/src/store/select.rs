//! Reads: one record, lists with filter/sort/paging, identity lookups and rule checks on
//! a record's data.

use std::sync::Arc;

use keel_core::{Error, Result};
use serde_json::Value;

use super::rows::{data_params, row_to_record, select_cols};
use super::rules::{and_all, RuleCtx};
use super::{ListParams, Page, Record, Store};
use crate::filter::Origin;
use crate::request::{Access, RequestInfo};
use crate::schema::Collection;
use keel_sql::{Dialect, SqlBuf};

pub(crate) async fn get(
    store: &Store,
    c: &Arc<Collection>,
    id: &str,
    req: &RequestInfo,
    access: Access<'_>,
) -> Result<Record> {
    let schema = store.schema();
    let rule = match access {
        Access::Rule(r) if !r.trim().is_empty() => Some(r),
        _ => None,
    };
    let rows = match (rule, schema.reads(c)) {
        (None, Some(reads)) => store.engine.fetch_point(&reads.get, &[Value::from(id)]).await?,
        _ => {
            let mut buf = SqlBuf::new(store.engine.dialect());
            buf.push("SELECT ").push(&select_cols(c, "t", store.engine.dialect()));
            buf.push(" FROM ")
                .ident(&c.name)
                .push(" t WHERE t.\"id\" = ")
                .param(Value::from(id));
            if let Some(rule) = rule {
                let ctx = RuleCtx {
                    exprs: &store.exprs,
                    schema: &*schema,
                    collection: c,
                    alias: "t",
                    req,
                };
                if let Some(cond) = ctx.condition(rule, "viewRule", &mut buf)? {
                    buf.push(" AND (").push(&cond).push(")");
                }
            }
            buf.push(" LIMIT 1");
            store.engine.fetch_point(&buf.text, &buf.params).await?
        }
    };
    let row = rows.into_iter().next().ok_or_else(Error::not_found)?;
    row_to_record(store, c, row)
}

/// Most terms in one `sort`.
pub const MAX_SORT_TERMS: usize = 32;

/// `ORDER BY` terms for PocketBase's `sort` parameter. A sort reaches only what a filter
/// may: hidden fields are refused (unless the caller skips the collection's rules), and
/// the `email` of an auth collection sorts as empty where `emailVisibility` is false, so
/// the order never tells an invisible email (the caller's own included: the ORDER BY binds
/// no parameter, as the count query shares the WHERE's).
fn order_by(c: &Collection, sort: Option<&str>, d: &dyn Dialect, req: &RequestInfo) -> Result<String> {
    let bad = |what: &str| Error::field("sort", "validation_invalid_sort", format!("Invalid sort field {what}."));
    let parts: Vec<&str> = sort
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() > MAX_SORT_TERMS {
        return Err(Error::field(
            "sort",
            "validation_invalid_sort",
            format!("Too many sort terms: at most {MAX_SORT_TERMS} are allowed."),
        ));
    }
    let restricted = !req.skips_rules(c);
    let mut terms = Vec::new();
    for part in parts {
        let (desc, name) = match part.strip_prefix('-') {
            Some(n) => (true, n.trim()),
            None => (false, part.strip_prefix('+').unwrap_or(part).trim()),
        };
        let dir = if desc { "DESC" } else { "ASC" };
        match name {
            "@random" => terms.push(d.random().to_string()),
            "@rowid" if c.is_view() => return Err(bad(name)),
            "@rowid" => terms.push(format!("{} {dir}", d.insertion_order(Some("t")))),
            _ => {
                let Some(field) = c.field(name) else {
                    return Err(bad(name));
                };
                let col = format!("t.{}", d.quote_ident(name));
                if field.is_encrypted() {
                    return Err(Error::field(
                        "sort",
                        "validation_invalid_sort",
                        format!("Cannot sort by {name:?}: the field is encrypted (its stored value is ciphertext); sort by another field."),
                    ));
                }
                if restricted && field.hidden {
                    return Err(Error::field(
                        "sort",
                        "validation_invalid_sort",
                        format!("Cannot sort by {name:?}: the field is hidden."),
                    ));
                }
                // NULLs (an invisible email, an unset json field) order first ascending and
                // last descending, as on SQLite, whatever the engine's own NULL order.
                if restricted && name == "email" && c.is_auth() {
                    let vis = format!("t.{}", d.quote_ident("emailVisibility"));
                    terms.push(format!("CASE WHEN {vis} = TRUE THEN 1 ELSE 0 END {dir}"));
                    terms.push(format!("CASE WHEN {vis} = TRUE THEN {col} END {dir}"));
                } else if matches!(field.kind, crate::schema::FieldKind::Json(_)) {
                    terms.push(format!("CASE WHEN {col} IS NULL THEN 0 ELSE 1 END {dir}"));
                    terms.push(format!("{col} {dir}"));
                } else {
                    terms.push(format!("{col} {dir}"));
                }
            }
        }
    }
    // A view has no insertion order: its rows come in the order its query gives them.
    if terms.is_empty() && !c.is_view() {
        terms.push(format!("{} ASC", d.insertion_order(Some("t"))));
    }
    if terms.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(" ORDER BY {}", terms.join(", ")))
}

/// The `WHERE` of a list: the list rule (unless superuser), the caller's filter, and, for a
/// search, `id IN (among)` (no id at all: nothing matches).
fn list_where(
    ctx: &RuleCtx<'_>,
    access: Access<'_>,
    filter: Option<&str>,
    among: Option<&[String]>,
    buf: &mut SqlBuf,
) -> Result<String> {
    let rule_cond = match access {
        Access::Rule(r) => ctx.condition(r, "listRule", buf)?,
        Access::Superuser => None,
    };
    let filter_cond = ctx.user_filter(filter.unwrap_or(""), buf)?;
    let among_cond = among.map(|ids| {
        if ids.is_empty() {
            return "1=0".to_string();
        }
        let list: Vec<String> = ids.iter().map(|id| buf.bind(Value::from(id.as_str()))).collect();
        format!("t.\"id\" IN ({})", list.join(", "))
    });
    Ok(and_all(&[rule_cond, filter_cond, among_cond]))
}

/// A list; with `among` (a search's matching ids, best first) only those records, ordered
/// by their rank there unless `params.sort` says otherwise.
pub(crate) async fn list(
    store: &Store,
    c: &Arc<Collection>,
    params: &ListParams,
    req: &RequestInfo,
    access: Access<'_>,
    among: Option<&[String]>,
) -> Result<Page<Record>> {
    let schema = store.schema();
    let d = store.engine.dialect();
    let ctx = RuleCtx {
        exprs: &store.exprs,
        schema: &*schema,
        collection: c,
        alias: "t",
        req,
    };
    let mut buf = SqlBuf::new(d);
    let where_sql = list_where(&ctx, access, params.filter.as_deref(), among, &mut buf)?;
    let order = order_by(c, params.sort.as_deref(), d, req)?;
    let per_page = params.per_page.max(1);
    let page = params.page.max(1);
    let offset = (page - 1).saturating_mul(per_page);
    let table = d.quote_ident(&c.name);
    let cols: Arc<str> = match schema.reads(c) {
        Some(reads) => reads.cols.clone(),
        None => select_cols(c, "t", d).into(),
    };
    if let (Some(ranked), None) = (among, params.sort.as_deref()) {
        return by_rank(store, c, &ctx, access, params, ranked, (where_sql, buf), page, per_page).await;
    }
    // The count takes the WHERE's parameters only.
    let count_params = (!params.skip_total).then(|| buf.params.clone());
    // Bound, not written in: every page of a list is the same prepared statement.
    let limit = buf.bind(Value::from(per_page));
    let offset = buf.bind(Value::from(offset));
    let select = format!("SELECT {cols} FROM {table} t WHERE {where_sql}{order} LIMIT {limit} OFFSET {offset}");
    let (rows, total) = match count_params {
        None => (store.engine.fetch_all(&select, &buf.params).await?, -1),
        Some(count_params) => {
            let count = format!("SELECT COUNT(*) AS n FROM {table} t WHERE {where_sql}");
            let (rows, counted) = tokio::join!(
                store.engine.fetch_all(&select, &buf.params),
                store.engine.fetch_all(&count, &count_params)
            );
            let n = counted?
                .first()
                .and_then(|r| r.get("n"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            (rows?, n)
        }
    };
    page_of(store, c, page, per_page, total, rows)
}

fn page_of(
    store: &Store,
    c: &Arc<Collection>,
    page: u64,
    per_page: u64,
    total: i64,
    rows: Vec<keel_sql::Row>,
) -> Result<Page<Record>> {
    let total_pages = if total < 0 {
        -1
    } else {
        (total + per_page as i64 - 1) / per_page as i64
    };
    Ok(Page {
        page,
        per_page,
        total_items: total,
        total_pages,
        items: rows
            .into_iter()
            .map(|r| row_to_record(store, c, r))
            .collect::<Result<_>>()?,
    })
}

/// A search's page in rank order: the ids of `ranked` the rule and filter let through (one
/// query of ids: the count is theirs), then that page's records (a second query under the
/// same rule and filter, so a record changed in between is still checked).
#[allow(clippy::too_many_arguments)]
async fn by_rank(
    store: &Store,
    c: &Arc<Collection>,
    ctx: &RuleCtx<'_>,
    access: Access<'_>,
    params: &ListParams,
    ranked: &[String],
    (where_sql, buf): (String, SqlBuf),
    page: u64,
    per_page: u64,
) -> Result<Page<Record>> {
    let d = store.engine.dialect();
    let table = d.quote_ident(&c.name);
    let sql = format!("SELECT t.\"id\" AS id FROM {table} t WHERE {where_sql}");
    let allowed: std::collections::HashSet<String> = store
        .engine
        .fetch_all(&sql, &buf.params)
        .await?
        .into_iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str).map(String::from))
        .collect();
    let visible: Vec<&String> = ranked.iter().filter(|id| allowed.contains(*id)).collect();
    let offset = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
    let slice: Vec<String> = visible
        .iter()
        .skip(offset)
        .take(per_page as usize)
        .map(|s| (*s).clone())
        .collect();
    let total = if params.skip_total { -1 } else { visible.len() as i64 };
    if slice.is_empty() {
        return page_of(store, c, page, per_page, total, Vec::new());
    }
    let mut buf = SqlBuf::new(d);
    let where_sql = list_where(ctx, access, params.filter.as_deref(), Some(&slice), &mut buf)?;
    let cols = select_cols(c, "t", d);
    let select = format!("SELECT {cols} FROM {table} t WHERE {where_sql}");
    let mut rows = store.engine.fetch_all(&select, &buf.params).await?;
    let rank: std::collections::HashMap<&str, usize> =
        slice.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    rows.sort_by_key(|r| {
        r.get("id")
            .and_then(Value::as_str)
            .and_then(|id| rank.get(id).copied())
            .unwrap_or(usize::MAX)
    });
    page_of(store, c, page, per_page, total, rows)
}

pub(crate) async fn find_by_field(
    store: &Store,
    c: &Arc<Collection>,
    field: &str,
    value: &Value,
) -> Result<Option<Record>> {
    match c.field(field) {
        None => return Err(Error::field(field, "validation_unknown_field", "Unknown field.")),
        Some(f) if f.is_encrypted() => {
            return Err(Error::field(
                field,
                "validation_encrypted_field",
                "The field is encrypted and cannot be looked up by value.",
            ))
        }
        Some(_) => {}
    }
    let mut buf = SqlBuf::new(store.engine.dialect());
    buf.push("SELECT ").push(&select_cols(c, "t", store.engine.dialect()));
    let d = store.engine.dialect();
    let column = format!("t.{}", d.quote_ident(field));
    let ph = buf.bind(value.clone());
    let cond = if field == "email" {
        d.ci_eq(&column, &ph)
    } else {
        format!("{column} = {ph}")
    };
    buf.push(" FROM ").ident(&c.name).push(" t WHERE ").push(&cond);
    buf.push(" LIMIT 1");
    let rows = store.engine.fetch_all(&buf.text, &buf.params).await?;
    rows.into_iter().next().map(|r| row_to_record(store, c, r)).transpose()
}

/// Whether `record` (not read from the table) passes `rule`, compiled as written by
/// `origin` (a collection rule, or a caller's realtime filter).
pub(crate) async fn record_matches(
    store: &Store,
    c: &Arc<Collection>,
    record: &RecordData,
    rule: &str,
    req: &RequestInfo,
    origin: Origin,
) -> Result<bool> {
    if rule.trim().is_empty() {
        return Ok(true);
    }
    let schema = store.schema();
    let d = store.engine.dialect();
    let mut buf = SqlBuf::new(d);
    let cols: Vec<String> = c
        .fields
        .iter()
        .zip(data_params(c, record))
        .map(|(f, v)| format!("{} AS {}", buf.bind(v), d.quote_ident(&f.name)))
        .collect();
    let ctx = RuleCtx {
        exprs: &store.exprs,
        schema: &*schema,
        collection: c,
        alias: "t",
        req,
    };
    let field = match origin {
        Origin::Rule => "rule",
        Origin::Filter => "filter",
    };
    let cond = ctx
        .compile(rule, field, origin, &mut buf)?
        .unwrap_or_else(|| "1=1".into());
    let sql = format!("SELECT 1 AS ok FROM (SELECT {}) t WHERE {cond}", cols.join(", "));
    Ok(!store.engine.fetch_all(&sql, &buf.params).await?.is_empty())
}

use crate::schema::RecordData;
