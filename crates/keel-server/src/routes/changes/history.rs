//! The change history: `GET /api/changes` (a page, PocketBase's `page`, `perPage`, `sort`
//! (default `-seq`, newest first), `filter`, `skipTotal`, `fields`) and
//! `GET /api/changes/{id}`, over keel_app::changes::history.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::routes::records::params::{list_json, ListQuery};
use crate::state::AppState;
use keel_app::changes::history;
use keel_app::serialize::pick_fields;

#[utoipa::path(
    get, path = "/api/changes", operation_id = "listChanges", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery),
    responses((status = 200, description = "A page of recorded collection changes, newest first: `{id, seq, collectionRef, collection, kind, source, author, state, verdict, version, previousVersion, findings, diff, before, after, created}`", body = crate::openapi::schemas::RecordList))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    history::may_read(&caller)?;
    let ListQuery(q) = query?;
    let req = request_info(&caller, &method, &uri, &headers, Map::new());
    let page = history::list(&state, &caller, &q.params, &req).await?;
    let items = page.items.iter().map(|r| history::change_json(&r.data)).collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, q.fields.as_deref());
    Ok(Json(out))
}

#[utoipa::path(
    get, path = "/api/changes/{id}", operation_id = "viewChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "One recorded change", body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = history::view(&state, &caller, &id).await?;
    Ok(Json(history::change_json(&r.data)))
}
