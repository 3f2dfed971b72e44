//! `GET /api/collections`: a page of collections (`page`, `perPage`, `sort`, `filter`, `skipTotal`).

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use keel_data::Collection;
use serde_json::Value;

use super::filter;
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::routes::records::params::{list_json, Query};
use crate::state::AppState;
use keel_app::authz::{authorize, Permission};
use keel_app::serialize::pick_fields;

/// Lists collections.
#[utoipa::path(
    get, path = "/api/collections", operation_id = "listCollections", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery), responses((status = 200, body = crate::openapi::schemas::CollectionList))
)]
pub async fn list(State(state): State<AppState>, caller: Caller, uri: Uri) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::CollectionsRead)?;
    let q = Query::from_uri(&uri);
    let params = q.list_params()?;
    let mut all = state.store.collections();
    if let Some(f) = &params.filter {
        let expr = filter::parse(f)?;
        all.retain(|c| filter::matches(&expr, c));
    }
    if let Some(sort) = &params.sort {
        sort_collections(&mut all, sort)?;
    }
    let total = all.len() as u64;
    let start = (params.page - 1).saturating_mul(params.per_page);
    let items: Vec<Value> = all
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(params.per_page as usize)
        .map(|c| keel_app::collections::shown(&caller, c))
        .collect();
    let (total_items, total_pages) = if params.skip_total {
        (-1, -1)
    } else {
        (total as i64, total.div_ceil(params.per_page) as i64)
    };
    let mut out = list_json(params.page, params.per_page, total_items, total_pages, items);
    pick_fields(&mut out, q.fields());
    Ok(Json(out))
}

/// Sorts by `name`, `created`, `updated`, `type` or `id` (`-` for descending), comma-separated.
fn sort_collections(all: &mut [Arc<Collection>], sort: &str) -> ApiResult<()> {
    let mut keys = Vec::new();
    for raw in sort.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (desc, name) = match raw.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, raw.strip_prefix('+').unwrap_or(raw)),
        };
        if !["name", "created", "updated", "type", "id"].contains(&name) {
            return Err(ApiError::field(
                "sort",
                "validation_invalid_sort",
                format!("Cannot sort collections by {name:?}: use name, created, updated, type or id."),
            ));
        }
        keys.push((desc, name.to_string()));
    }
    let key_of = |c: &Collection, k: &str| -> String {
        match k {
            "name" => c.name.clone(),
            "created" => c.created.clone(),
            "updated" => c.updated.clone(),
            "type" => if c.is_auth() { "auth" } else { "base" }.to_string(),
            _ => c.id.clone(),
        }
    };
    all.sort_by(|a, b| {
        for (desc, k) in &keys {
            let o = key_of(a, k).cmp(&key_of(b, k));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(())
}
