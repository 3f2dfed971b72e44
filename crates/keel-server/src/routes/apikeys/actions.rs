//! Revoke, delete and rotate an API key. Each acts on a key only for a caller who holds every
//! permission of the key's roles (`authz::may_grant`): a key above the caller is out of reach.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use keel_auth::identity::ApiKey;
use serde_json::Value;

use super::{key_or_404, may_grant_roles, with_secret};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::audit;
use keel_app::authz::{authorize, Permission};

async fn revoke_key(state: &AppState, caller: &Caller, id: &str, origin: &keel_app::Origin) -> ApiResult<ApiKey> {
    authorize(caller, Permission::ApiKeysManage)?;
    let key = key_or_404(state, id).await?;
    may_grant_roles(state, caller, &key.roles, false).await?;
    let key = state.identity.revoke_api_key(id).await?;
    let entry = audit::entry(caller, origin, "apikey.revoke")
        .detail("key", key.id.clone())
        .detail("name", key.name.clone());
    state.identity.audit(entry).await;
    Ok(key)
}

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
    let key = revoke_key(&state, &caller, &id, &origin).await?;
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
    revoke_key(&state, &caller, &id, &origin).await?;
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
    authorize(&caller, Permission::ApiKeysManage)?;
    let key = key_or_404(&state, &id).await?;
    may_grant_roles(&state, &caller, &key.roles, false).await?;
    let (key, secret) = state.identity.rotate_api_key(&id).await?;
    let entry = audit::entry(&caller, &origin, "apikey.rotate")
        .detail("key", key.id.clone())
        .detail("name", key.name.clone());
    state.identity.audit(entry).await;
    Ok(Json(with_secret(&key, secret)?))
}
