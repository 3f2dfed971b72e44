//! Runbooks: list, create, view, replace (a new version), delete, versions, import, export.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::body::{read_bytes, read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;
use keel_app::ops::runbooks;

#[utoipa::path(
    get, path = "/api/ops/runbooks", operation_id = "listRunbooks", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "Every runbook", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(runbooks::list(&state, &caller).await?))
}

#[utoipa::path(
    post, path = "/api/ops/runbooks", operation_id = "createRunbook", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "The runbook, version 1", body = crate::openapi::schemas::Object))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::ops::may(&caller, keel_app::authz::Permission::OpsManage)?;
    let input: Value = read_object(&state, &headers, body, Limit::Document).await?;
    Ok(Json(runbooks::create(&state, &caller, &origin, input).await?))
}

#[utoipa::path(
    post, path = "/api/ops/runbooks/import", operation_id = "importRunbook", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), request_body(content = String, description = "A runbook in JSON or YAML"),
    responses((status = 200, description = "The runbook created, or its new version", body = crate::openapi::schemas::Object))
)]
pub(super) async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::ops::may(&caller, keel_app::authz::Permission::OpsManage)?;
    let bytes = read_bytes(&state, body, Limit::Document).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::from(keel_core::Error::bad_request("The runbook is not UTF-8 text.")))?;
    Ok(Json(runbooks::import(&state, &caller, &origin, text).await?))
}

#[utoipa::path(
    get, path = "/api/ops/runbooks/{id}", operation_id = "viewRunbook", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The runbook (id or name)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(runbooks::view(&state, &caller, &id).await?))
}

#[utoipa::path(
    put, path = "/api/ops/runbooks/{id}", operation_id = "updateRunbook", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "The runbook at its new version", body = crate::openapi::schemas::Object))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::ops::may(&caller, keel_app::authz::Permission::OpsManage)?;
    let input: Value = read_object(&state, &headers, body, Limit::Document).await?;
    Ok(Json(runbooks::update(&state, &caller, &origin, &id, input).await?))
}

#[utoipa::path(
    delete, path = "/api/ops/runbooks/{id}", operation_id = "deleteRunbook", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 204, description = "Deleted with its versions (its runs stay)"))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    runbooks::delete(&state, &caller, &origin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/ops/runbooks/{id}/versions", operation_id = "listRunbookVersions", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "Every version, newest first", body = crate::openapi::schemas::Object))
)]
pub(super) async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(runbooks::versions(&state, &caller, &id).await?))
}

#[utoipa::path(
    get, path = "/api/ops/runbooks/{id}/versions/{version}", operation_id = "viewRunbookVersion", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "That version's definition", body = crate::openapi::schemas::Object))
)]
pub(super) async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, version)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(runbooks::version(&state, &caller, &id, version).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct ExportQuery {
    /// `json` (the default) or `yaml`.
    #[serde(default)]
    format: String,
}

#[utoipa::path(
    get, path = "/api/ops/runbooks/{id}/export", operation_id = "exportRunbook", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), params(ExportQuery),
    responses((status = 200, description = "The definition as JSON or YAML text", body = String))
)]
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let (text, content_type) = runbooks::export(&state, &caller, &id, &q.format).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
