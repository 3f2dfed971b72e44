//! `GET /api/collections/{collection}/records`: a page of records visible under the list rule.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use keel_data::Access;
use serde_json::{Map, Value};

use super::params::{list_json, Query};
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::serialize::{pick_fields, record_json};
use crate::state::AppState;

/// Lists records (`page`, `perPage`, `sort`, `filter`, `expand`, `fields`, `skipTotal`).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let collection = super::load_collection(&state, &collection)?;
    let q = Query::from_uri(&uri);
    let params = q.list_params()?;
    let req = request_info(&caller, &method, &uri, &headers, Map::new());
    let access = Access::for_rule(&collection.list_rule, &req).ok_or_else(ApiError::superusers_only)?;
    let mut page = state.store.list_records(&collection, &params, &req, access).await?;
    if let Some(expand) = q.expand() {
        state.store.expand(&mut page.items, expand, &req).await?;
    }
    let items = page.items.iter().map(|r| record_json(r, &req)).collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, q.fields());
    Ok(Json(out))
}
