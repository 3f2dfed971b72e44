//! Reading the logs as `/api/logs` does: PocketBase's filter language over `id`, `created`,
//! `level`, `message`, `data` and `data.<path>` (Keel's filter compiler, run on a schema
//! that describes the table), sorts over the same fields, pages, and requests per hour.

use std::sync::Arc;

use chrono::Utc;
use keel_core::{Error, Result};
use keel_data::filter::{self, CompileCtx, Origin, SchemaLookup};
use keel_data::schema::{JsonOptions, NumberOptions, TextOptions};
use keel_data::{Collection, CollectionType, Field, FieldKind, ListParams, Page, RequestInfo};
use keel_sql::{Dialect, SqlBuf};
use serde::Serialize;
use serde_json::Value;

use crate::entry::LogEntry;
use crate::store::{db, entry_of, LogStore};

/// Requests (log rows) in one hour, as `/api/logs/stats` answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourStat {
    pub total: i64,
    /// The hour's start, `2024-01-02 15:00:00.000Z`.
    pub date: String,
}

/// The requests of one caller among those a filter matched, as [`LogStore::callers`] counts
/// them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerCount {
    /// `data.auth`: the caller's collection (`users`, `_apiKeys`, `_superusers`), "" for guests.
    pub auth: String,
    /// `data.authId`, kept only while `logs.logAuthId` was on ("" otherwise).
    pub auth_id: String,
    pub requests: i64,
    /// The newest such request's time (`2026-11-20 10:00:00.000Z`).
    pub last: String,
}

/// The fields a filter or sort may name (`data.<path>` reaches into `data`).
fn schema(table: &str) -> Collection {
    let mut c = Collection::blank(table, CollectionType::Base);
    c.fields.retain(|f| f.name == "id" || f.name == "created");
    c.fields
        .push(Field::new("level", FieldKind::Number(NumberOptions::default())));
    c.fields
        .push(Field::new("message", FieldKind::Text(TextOptions::default())));
    c.fields
        .push(Field::new("data", FieldKind::Json(JsonOptions::default())));
    c
}

/// No other table is reachable from a log filter.
struct NoRelations;

impl SchemaLookup for NoRelations {
    fn collection(&self, _: &str) -> Option<Arc<Collection>> {
        None
    }
}

impl LogStore {
    /// `filter` compiled to one condition over alias `t`, its values bound in `buf`.
    fn condition(&self, filter: Option<&str>, buf: &mut SqlBuf) -> Result<String> {
        let src = filter.unwrap_or("").trim();
        if src.is_empty() {
            return Ok("1=1".into());
        }
        let c = schema(self.table);
        let ctx = CompileCtx {
            collection: &c,
            alias: "t",
            schema: &NoRelations,
            request: &RequestInfo::default(),
            now: Utc::now(),
            // The logs API is for superusers, whose filters reach every field.
            origin: Origin::Rule,
        };
        filter::compile_expr(src, "filter", &ctx, buf)
    }

    /// A page of rows: `filter`, `sort` (default newest first, `@random` allowed), paging and
    /// `skipTotal` as the records API has them.
    pub async fn list(&self, params: &ListParams) -> Result<Page<LogEntry>> {
        let d = self.engine.dialect();
        let mut buf = SqlBuf::new(d);
        let cond = self.condition(params.filter.as_deref(), &mut buf)?;
        let order = order_by(params.sort.as_deref(), d)?;
        let per_page = params.per_page.max(1);
        let page = params.page.max(1);
        let offset = (page - 1).saturating_mul(per_page);
        let table = d.quote_ident(self.table);
        let select = format!(
            "SELECT {} FROM {table} t WHERE {cond} ORDER BY {order} LIMIT {per_page} OFFSET {offset}",
            self.columns()
        );
        let rows = self.engine.fetch_all(&select, &buf.params).await.map_err(db)?;
        let total = if params.skip_total {
            -1
        } else {
            let count = format!("SELECT COUNT(*) AS n FROM {table} t WHERE {cond}");
            let counted = self.engine.fetch_all(&count, &buf.params).await.map_err(db)?;
            counted
                .first()
                .and_then(|r| r.get("n"))
                .and_then(|n| n.as_i64().or_else(|| n.as_str().and_then(|s| s.parse().ok())))
                .unwrap_or(0)
        };
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
            items: rows.into_iter().map(entry_of).collect::<Result<_>>()?,
        })
    }

    /// Rows per hour matching `filter`, oldest hour first.
    pub async fn stats(&self, filter: Option<&str>) -> Result<Vec<HourStat>> {
        let d = self.engine.dialect();
        let mut buf = SqlBuf::new(d);
        let cond = self.condition(filter, &mut buf)?;
        // `created` is `YYYY-MM-DD HH:MM:SS.mmmZ`: its first 13 characters name the hour.
        let hour = "SUBSTR(t.\"created\", 1, 13)";
        let sql = format!(
            "SELECT {hour} AS \"hour\", COUNT(*) AS \"total\" FROM {} t WHERE {cond} GROUP BY {hour} ORDER BY {hour}",
            d.quote_ident(self.table)
        );
        let rows = self.engine.fetch_all(&sql, &buf.params).await.map_err(db)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let hour = r.get("hour")?.as_str()?.to_string();
                let total = r
                    .get("total")
                    .and_then(|n| n.as_i64().or_else(|| n.as_str()?.parse().ok()))?;
                Some(HourStat {
                    total,
                    date: format!("{hour}:00:00.000Z"),
                })
            })
            .collect())
    }
}

impl LogStore {
    /// The rows matching `filter` grouped by caller (`data.auth`, `data.authId`), the busiest
    /// first, at most `limit` callers.
    pub async fn callers(&self, filter: &str, limit: u32) -> Result<Vec<CallerCount>> {
        let d = self.engine.dialect();
        let mut buf = SqlBuf::new(d);
        let cond = self.condition(Some(filter), &mut buf)?;
        let data = format!("t.{}", d.quote_ident("data"));
        let auth = d.json_extract(&data, "$.auth");
        let id = d.json_extract(&data, "$.authId");
        let sql = format!(
            "SELECT {auth} AS \"auth\", {id} AS \"authId\", COUNT(*) AS \"n\", MAX(t.\"created\") AS \"last\" \
             FROM {} t WHERE {cond} GROUP BY {auth}, {id} ORDER BY COUNT(*) DESC LIMIT {limit}",
            d.quote_ident(self.table)
        );
        let rows = self.engine.fetch_all(&sql, &buf.params).await.map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| CallerCount {
                auth: json_text(r.get("auth")),
                auth_id: json_text(r.get("authId")),
                requests: r
                    .get("n")
                    .and_then(|n| n.as_i64().or_else(|| n.as_str()?.parse().ok()))
                    .unwrap_or(0),
                last: json_text(r.get("last")),
            })
            .collect())
    }
}

/// A text value read back from a JSON extraction: a string as is, or JSON text of a string
/// (engines that extract JSON, not text) decoded; "" for null and anything else.
fn json_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) if s.starts_with('"') => serde_json::from_str::<String>(s).unwrap_or_else(|_| s.clone()),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Most terms in one `sort`.
const MAX_SORT_TERMS: usize = 8;

/// `ORDER BY` terms for `sort`: `id`, `created`, `level`, `message`, `data.<path>`, `@random`,
/// `@rowid`, each with an optional `-`; newest first (`-@rowid`, the key read backwards) when
/// none.
fn order_by(sort: Option<&str>, d: &dyn Dialect) -> Result<String> {
    let bad = |what: &str| {
        Error::field(
            "sort",
            "validation_invalid_sort",
            format!("Invalid sort field {what:?}."),
        )
    };
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
    let mut terms = Vec::new();
    for part in parts {
        let (desc, name) = match part.strip_prefix('-') {
            Some(n) => (true, n.trim()),
            None => (false, part.strip_prefix('+').unwrap_or(part).trim()),
        };
        let dir = if desc { "DESC" } else { "ASC" };
        match name {
            "@random" => terms.push(d.random().to_string()),
            // Insertion order, which `id` follows too (`seq` in fixed-width hexadecimal).
            "@rowid" | "id" => terms.push(format!("t.{} {dir}", d.quote_ident("seq"))),
            "created" | "level" | "message" | "data" => terms.push(format!("t.{} {dir}", d.quote_ident(name))),
            _ => {
                let Some(path) = name.strip_prefix("data.") else {
                    return Err(bad(name));
                };
                let valid = !path.is_empty()
                    && path
                        .split('.')
                        .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                if !valid {
                    return Err(bad(name));
                }
                let col = format!("t.{}", d.quote_ident("data"));
                terms.push(format!("{} {dir}", d.json_extract(&col, &format!("$.{path}"))));
            }
        }
    }
    if terms.is_empty() {
        terms.push(format!("t.{} DESC", d.quote_ident("seq")));
    } else {
        // Rows of one millisecond keep a stable order across pages.
        terms.push(format!("t.{} ASC", d.quote_ident("seq")));
    }
    Ok(terms.join(", "))
}
