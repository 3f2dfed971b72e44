//! The history and inbox: list, view, read, ack, deliveries.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use keel_app::notifications::inbox;
use keel_app::serialize::{pick_fields, record_json};
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::routes::records::params::{list_json, ListQuery};
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/notifications", operation_id = "listNotifications", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery),
    responses((status = 200, description = "A page of `_notifications` records", body = crate::openapi::schemas::RecordList))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    inbox::may_read(&caller)?;
    let ListQuery(q) = query?;
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let page = inbox::list(&state, &caller, &q.params, &req).await?;
    let items = page.items.iter().map(|r| record_json(r, &req)).collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, q.fields.as_deref());
    Ok(Json(out))
}

#[utoipa::path(
    get, path = "/api/notifications/{id}", operation_id = "viewNotification", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Record))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let r = inbox::view(&state, &caller, &id, &req).await?;
    Ok(Json(record_json(&r, &req)))
}

#[utoipa::path(
    post, path = "/api/notifications/{id}/read", operation_id = "readNotification", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Record))
)]
pub(super) async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let r = inbox::read(&state, &caller, &id, &req).await?;
    Ok(Json(record_json(&r, &req)))
}

#[utoipa::path(
    post, path = "/api/notifications/{id}/ack", operation_id = "ackNotification", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Record))
)]
pub(super) async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let r = inbox::ack(&state, &caller, &id, &req).await?;
    Ok(Json(record_json(&r, &req)))
}

#[utoipa::path(
    get, path = "/api/notifications/{id}/deliveries", operation_id = "listNotificationDeliveries", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let items = inbox::deliveries(&state, &caller, &id, &req).await?;
    Ok(Json(json!({ "items": items })))
}
