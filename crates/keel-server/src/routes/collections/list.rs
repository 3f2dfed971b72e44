//! `GET /api/collections`: a page of collections (`page`, `perPage`, `sort`, `filter`,
//! `skipTotal`, `fields`; `keel_app::collections::list`).

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::routes::records::params::{list_json, ListQuery};
use crate::state::AppState;
use keel_app::serialize::pick_fields;

/// Lists collections.
#[utoipa::path(
    get, path = "/api/collections", operation_id = "listCollections", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery), responses((status = 200, body = crate::openapi::schemas::CollectionList))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
) -> ApiResult<Json<Value>> {
    keel_app::collections::may_read(&caller)?;
    let ListQuery(q) = query?;
    let page = keel_app::collections::list(&state, &caller, &q.params)?;
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, page.items);
    pick_fields(&mut out, q.fields.as_deref());
    Ok(Json(out))
}
