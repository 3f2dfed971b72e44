//! Searching several collections at once (`GET /api/search`, docs/search.md): each
//! collection is searched the way its records list searches it (ranked ids from its index,
//! then its list rule and `id IN (…)` in SQL), and the pages merged.
//!
//! **Scores made comparable**: each collection's scores are divided by the score of its best
//! record the caller may see, so every collection's best visible match scores 1 and the rest
//! fall in (0, 1]; the merged list is ordered by that, ties by rank within the collection,
//! then by the order of `collections`. Normalising on the *visible* best (not the index's
//! best) keeps a record the caller may not see from changing anything the caller is given.
//!
//! **What a caller learns**: a collection whose list rule is superusers-only (`null`) and
//! that the caller does not skip rules on contributes nothing, without an error. An unknown
//! or unsearchable collection is a 400 naming `collections`: exactly what a records list with
//! `?search=` of that collection already tells anyone (its 404, its 400).

use std::sync::Arc;

use keel_core::search::{SearchQuery, MAX_HITS};
use keel_core::{Error, Result};
use keel_data::{Access, Collection, ListParams, Record, RequestInfo};

use crate::App;

/// The most collections one search may name.
pub const MAX_COLLECTIONS: usize = 10;

/// A search across collections.
#[derive(Debug, Clone)]
pub struct AcrossQuery {
    /// The search text (Keel's syntax).
    pub q: String,
    /// Collection names or ids, comma-separated.
    pub collections: String,
    /// 1-based.
    pub page: u64,
    pub per_page: u64,
}

/// A merged page: PocketBase's list shape, items from several collections.
#[derive(Debug, Clone)]
pub struct AcrossPage {
    pub page: u64,
    pub per_page: u64,
    pub total_items: i64,
    pub total_pages: i64,
    pub items: Vec<Record>,
}

fn bad(field: &str, message: impl Into<String>) -> Error {
    Error::field(field, "validation_invalid_value", message)
}

/// The collections named in `list` (deduplicated, in order); a 400 naming `collections`
/// when none, too many, unknown or not searchable.
fn collections(app: &App, list: &str) -> Result<Vec<Arc<Collection>>> {
    let mut out: Vec<Arc<Collection>> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let c = app.store.collection(name).map_err(|e| match e {
            Error::NotFound(_) => bad("collections", format!("There is no collection {name:?}.")),
            e => e,
        })?;
        if c.search.is_none() {
            return Err(bad(
                "collections",
                format!("The collection {name:?} is not searchable: give it a search option."),
            ));
        }
        if !out.iter().any(|o| o.id == c.id) {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err(bad(
            "collections",
            "Name the collections to search, comma-separated: collections=posts,comments.",
        ));
    }
    if out.len() > MAX_COLLECTIONS {
        return Err(bad(
            "collections",
            format!("At most {MAX_COLLECTIONS} collections in one search."),
        ));
    }
    Ok(out)
}

/// The query of `text` (empty when blank); a bad one is a 400 naming `field`.
pub(crate) fn query_named(text: &str, field: &str) -> Result<SearchQuery> {
    SearchQuery::parse(text).map_err(|e| match e {
        Error::BadRequest { fields, message } => {
            let why = fields.into_values().next().map(|f| f.message).unwrap_or(message);
            bad(field, why)
        }
        e => e,
    })
}

/// The query of `text`; a 400 naming `q` when blank or bad.
fn parse_q(text: &str) -> Result<SearchQuery> {
    let q = query_named(text, "q")?;
    if q.is_empty() {
        return Err(bad("q", "Give the words to search for: q=quick fox."));
    }
    Ok(q)
}

/// One collection's contribution: its visible matches (up to `window`, best first) with their
/// normalised scores, and how many matches its list rule lets through.
async fn one(
    app: &App,
    c: &Arc<Collection>,
    q: &SearchQuery,
    window: u64,
    req: &RequestInfo,
) -> Result<(Vec<(f32, Record)>, i64)> {
    let Some(access) = Access::for_rule(c, &c.list_rule, req) else {
        return Ok((Vec::new(), 0));
    };
    let hits = super::list::search_hits(app, c, q).await?;
    let ranked: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
    let scores: std::collections::HashMap<&str, f32> = hits.iter().map(|h| (h.id.as_str(), h.score)).collect();
    let params = ListParams {
        page: 1,
        per_page: window,
        ..ListParams::default()
    };
    let page = app.store.list_records_among(c, &params, &ranked, req, access).await?;
    let score = |r: &Record| scores.get(r.id()).copied().unwrap_or(0.0);
    let best = page.items.first().map(score).filter(|s| *s > 0.0).unwrap_or(1.0);
    let items = page.items.into_iter().map(|r| (score(&r) / best, r)).collect();
    Ok((items, page.total_items.max(0)))
}

/// The page `query.page` of the merged matches of `query.q` in `query.collections`, each
/// under the caller's list rule for it (see the module docs).
pub async fn across(app: &App, query: &AcrossQuery, req: &RequestInfo) -> Result<AcrossPage> {
    let q = parse_q(&query.q)?;
    let list = collections(app, &query.collections)?;
    app.search.provider("q")?;
    let per_page = query.per_page.max(1);
    let page = query.page.max(1);
    let window = page.saturating_mul(per_page);
    if window > MAX_HITS as u64 {
        return Err(bad(
            "page",
            format!("A search across collections reaches at most its best {MAX_HITS} matches: page × perPage must be at most {MAX_HITS}."),
        ));
    }
    let mut merged: Vec<(f32, usize, usize, Record)> = Vec::new();
    let mut total = 0i64;
    for (ci, c) in list.iter().enumerate() {
        let (items, count) = one(app, c, &q, window, req).await?;
        total += count;
        merged.extend(items.into_iter().enumerate().map(|(rank, (s, r))| (s, rank, ci, r)));
    }
    merged.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let offset = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
    let items = merged
        .into_iter()
        .skip(offset)
        .take(per_page as usize)
        .map(|(_, _, _, r)| r)
        .collect();
    Ok(AcrossPage {
        page,
        per_page,
        total_items: total,
        total_pages: (total + per_page as i64 - 1) / per_page as i64,
        items,
    })
}
