//! List, create, view, change and delete secrets (`keel_app::vault`): metadata only.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::body::{read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::{Caller, ClientOrigin};
use crate::routes::records::params::ListQuery;
use crate::state::AppState;
use keel_app::vault;

/// A secret as submitted (every field optional on PATCH; `data` is never answered).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct SecretInput {
    /// Unique: letters, digits, `_`, `-`, `.` (at most 100).
    name: String,
    /// `password`, `ssh_key`, `token`, `winrm` or `generic`.
    #[schema(rename = "type")]
    kind: String,
    description: Option<String>,
    /// By type: `password` → `username`, `password`; `ssh_key` → `username`, `privateKey`,
    /// `passphrase`?; `token` → `token`; `winrm` → `username`, `password`, `domain`?;
    /// `generic` → any string map. Write-only.
    data: Option<BTreeMap<String, String>>,
}

#[utoipa::path(
    get, path = "/api/vault/secrets", operation_id = "listSecrets", tag = "vault",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery),
    responses((status = 200, description = "A page of secrets' metadata (never their data)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
) -> ApiResult<Json<Value>> {
    vault::may_read(&caller)?;
    let ListQuery(q) = query?;
    Ok(Json(
        vault::list(&state, &caller, q.params.page, q.params.per_page).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/vault/secrets", operation_id = "createSecret", tag = "vault",
    security(("authToken" = []), ("apiKey" = [])), request_body = SecretInput,
    responses((status = 200, description = "The secret's metadata (never its data)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    vault::may_manage(&caller)?;
    let input: Value = read_object(&state, &headers, body, Limit::Document).await?;
    Ok(Json(vault::create(&state, &caller, &origin, input).await?))
}

#[utoipa::path(
    get, path = "/api/vault/secrets/{id}", operation_id = "viewSecret", tag = "vault",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The secret's metadata (never its data)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(vault::view(&state, &caller, &id).await?))
}

#[utoipa::path(
    patch, path = "/api/vault/secrets/{id}", operation_id = "updateSecret", tag = "vault",
    security(("authToken" = []), ("apiKey" = [])), request_body = SecretInput,
    responses((status = 200, description = "The secret's metadata, changed", body = crate::openapi::schemas::Object))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    vault::may_manage(&caller)?;
    let input: Value = read_object(&state, &headers, body, Limit::Document).await?;
    Ok(Json(vault::update(&state, &caller, &origin, &id, input).await?))
}

#[utoipa::path(
    delete, path = "/api/vault/secrets/{id}", operation_id = "deleteSecret", tag = "vault",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    vault::delete(&state, &caller, &origin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
