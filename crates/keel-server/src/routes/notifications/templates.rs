//! Templates: CRUD and preview (`notifications:manage`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keel_app::notifications::templates::{self, PreviewInput, TemplateInput};
use serde_json::Value;

use super::{items, row};
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::routes::jobs::to_json;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/notifications/templates", operation_id = "listNotificationTemplates", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(items(&templates::list(&state, &caller).await?)))
}

#[utoipa::path(
    post, path = "/api/notifications/templates", operation_id = "createNotificationTemplate", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    templates::may_manage(&caller)?;
    let input: TemplateInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(row(&templates::create(&state, &caller, input).await?)))
}

#[utoipa::path(
    get, path = "/api/notifications/templates/{id}", operation_id = "viewNotificationTemplate", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(row(&templates::view(&state, &caller, &id).await?)))
}

#[utoipa::path(
    patch, path = "/api/notifications/templates/{id}", operation_id = "updateNotificationTemplate", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    templates::may_manage(&caller)?;
    let input: TemplateInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(row(&templates::update(&state, &caller, &id, input).await?)))
}

#[utoipa::path(
    delete, path = "/api/notifications/templates/{id}", operation_id = "deleteNotificationTemplate", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    templates::delete(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/notifications/templates/preview", operation_id = "previewNotificationTemplate", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "`{subject, text, html}` rendered", body = crate::openapi::schemas::Object))
)]
pub(super) async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    templates::may_manage(&caller)?;
    let input: PreviewInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(to_json(&templates::preview(&state, &caller, input).await?)?))
}
