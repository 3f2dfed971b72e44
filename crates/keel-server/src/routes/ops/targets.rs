//! Targets: list, create, view, change, delete, test.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;
use keel_app::authz::Permission;
use keel_app::ops::{may, targets};

#[utoipa::path(
    get, path = "/api/ops/targets", operation_id = "listTargets", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "Every target", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(targets::list(&state, &caller).await?))
}

#[utoipa::path(
    post, path = "/api/ops/targets", operation_id = "createTarget", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "The target", body = crate::openapi::schemas::Object))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    may(&caller, Permission::OpsManage)?;
    let input: Value = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(targets::create(&state, &caller, &origin, input).await?))
}

#[utoipa::path(
    get, path = "/api/ops/targets/{id}", operation_id = "viewTarget", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The target (id or name)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(targets::view(&state, &caller, &id).await?))
}

#[utoipa::path(
    patch, path = "/api/ops/targets/{id}", operation_id = "updateTarget", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "The target", body = crate::openapi::schemas::Object))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    may(&caller, Permission::OpsManage)?;
    let input: Value = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(targets::update(&state, &caller, &origin, &id, input).await?))
}

#[utoipa::path(
    delete, path = "/api/ops/targets/{id}", operation_id = "deleteTarget", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    targets::delete(&state, &caller, &origin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/ops/targets/{id}/test", operation_id = "testTarget", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "`{ok, latencyMs, hostname, os, …}` or `{ok: false, error}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(targets::test(&state, &caller, &id).await?))
}
