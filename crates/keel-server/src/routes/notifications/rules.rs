//! Rules: CRUD (`notifications:manage`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keel_app::notifications::rules::{self, RuleInput};
use serde_json::Value;

use super::{items, row};
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/notifications/rules", operation_id = "listNotificationRules", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(items(&rules::list(&state, &caller).await?)))
}

#[utoipa::path(
    post, path = "/api/notifications/rules", operation_id = "createNotificationRule", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    rules::may_manage(&caller)?;
    let input: RuleInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(row(&rules::create(&state, &caller, input).await?)))
}

#[utoipa::path(
    get, path = "/api/notifications/rules/{id}", operation_id = "viewNotificationRule", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(row(&rules::view(&state, &caller, &id).await?)))
}

#[utoipa::path(
    patch, path = "/api/notifications/rules/{id}", operation_id = "updateNotificationRule", tag = "notifications",
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
    rules::may_manage(&caller)?;
    let input: RuleInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(row(&rules::update(&state, &caller, &id, input).await?)))
}

#[utoipa::path(
    delete, path = "/api/notifications/rules/{id}", operation_id = "deleteNotificationRule", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    rules::delete(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
