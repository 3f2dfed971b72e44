//! Revoke, delete and rotate an API key (`keel_app::apikeys`: a key above the caller is out
//! of reach).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::with_secret;
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::apikeys;

#[utoipa::path(
    post, path = "/api/apikeys/{id}/revoke", operation_id = "revokeApiKey", tag = "apikeys",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::ApiKey))
)]
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let key = apikeys::revoke(&state, &caller, &origin, &id).await?;
    Ok(Json(to_json(&key)?))
}

#[utoipa::path(
    delete, path = "/api/apikeys/{id}", operation_id = "deleteApiKey", tag = "apikeys",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    apikeys::revoke(&state, &caller, &origin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for the key: whoever rotates gets it, so they must hold its roles.
#[utoipa::path(
    post, path = "/api/apikeys/{id}/rotate", operation_id = "rotateApiKey", tag = "apikeys",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "The key with its new secret `key` (shown once)", body = crate::openapi::schemas::ApiKey))
)]
pub(super) async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (key, secret) = apikeys::rotate(&state, &caller, &origin, &id).await?;
    Ok(Json(with_secret(&key, secret)?))
}
