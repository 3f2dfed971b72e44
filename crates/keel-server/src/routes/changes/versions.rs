//! A collection's versions: `GET /api/collections/{collection}/versions` (newest first,
//! `page` and `perPage`) and `GET /api/collections/{collection}/versions/{version}` (the
//! collection's JSON at that version), over keel_app::changes::history. The collection is
//! found by id or name, also after it was renamed or deleted.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::routes::records::params::{list_json, ListQuery};
use crate::state::AppState;
use keel_app::changes::history;

#[utoipa::path(
    get, path = "/api/collections/{collection}/versions", operation_id = "listCollectionVersions", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    params(("page" = Option<u64>, Query, description = "1-based"), ("perPage" = Option<u64>, Query, description = "At most 1000")),
    responses((status = 200, description = "A page of `{version, previousVersion, changeId, kind, verdict, author, collection, created}`, newest first", body = crate::openapi::schemas::RecordList))
)]
pub(super) async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    query: Result<ListQuery, ApiError>,
) -> ApiResult<Json<Value>> {
    history::may_read(&caller)?;
    let ListQuery(q) = query?;
    let page = history::versions(&state, &caller, &collection, q.params.page, q.params.per_page).await?;
    Ok(Json(list_json(
        page.page,
        page.per_page,
        page.total_items,
        page.total_pages,
        page.items,
    )))
}

#[utoipa::path(
    get, path = "/api/collections/{collection}/versions/{version}", operation_id = "viewCollectionVersion", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The collection's JSON as it was at that version (secrets masked)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((collection, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(history::version(&state, &caller, &collection, &version).await?))
}
