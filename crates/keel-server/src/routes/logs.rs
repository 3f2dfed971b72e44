//! `/api/logs` (superusers): PocketBase's request logs. `GET /api/logs` lists them with
//! `page`, `perPage`, `sort` (default `-created`), `filter` over `id`, `created`, `level`,
//! `message`, `data.*` (e.g. `data.status >= 400 && data.method = "POST"`), `skipTotal`
//! and `fields`; `GET /api/logs/stats?filter=` counts them per hour; `GET /api/logs/{id}`
//! shows one. Over keel_app::logs.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::routes::records::params::{list_json, ListQuery, Query};
use crate::state::AppState;
use keel_app::serialize::pick_fields;

/// The logs routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(stats))
        .routes(routes!(view))
}

#[utoipa::path(
    get, path = "/api/logs", operation_id = "listLogs", tag = "logs",
    security(("authToken" = [])), params(crate::openapi::params::ListQuery),
    responses((status = 200, description = "A page of request logs", body = crate::openapi::schemas::RecordList))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
) -> ApiResult<Json<Value>> {
    caller.require_superuser()?;
    let ListQuery(q) = query?;
    let page = keel_app::logs::list(&state, &caller, &q.params).await?;
    let items = page.items.iter().map(|e| e.to_json()).collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, q.fields.as_deref());
    Ok(Json(out))
}

#[utoipa::path(
    get, path = "/api/logs/stats", operation_id = "logsStats", tag = "logs",
    security(("authToken" = [])),
    params(("filter" = Option<String>, Query, description = "PocketBase's filter language over the log fields")),
    responses((status = 200, description = "Requests per hour: `[{\"total\", \"date\"}]`", body = Vec<crate::openapi::schemas::Object>))
)]
async fn stats(State(state): State<AppState>, caller: Caller, uri: Uri) -> ApiResult<Json<Value>> {
    let q = Query::from_uri(&uri);
    let filter = q.filter.as_deref().map(str::trim).filter(|f| !f.is_empty());
    let stats = keel_app::logs::stats(&state, &caller, filter).await?;
    Ok(Json(
        serde_json::to_value(stats).map_err(|e| ApiError(keel_core::Error::wrap(e)))?,
    ))
}

#[utoipa::path(
    get, path = "/api/logs/{id}", operation_id = "viewLog", tag = "logs",
    security(("authToken" = [])),
    responses((status = 200, description = "One request log", body = crate::openapi::schemas::Object))
)]
async fn view(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let entry = keel_app::logs::view(&state, &caller, &id).await?;
    Ok(Json(entry.to_json()))
}
