//! List, create and view API keys.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{key_or_404, may_grant_roles, with_secret};
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::audit;
use keel_app::authz::{authorize, Permission};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateKey {
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    expires: Option<String>,
}

#[utoipa::path(
    get, path = "/api/apikeys", operation_id = "listApiKeys", tag = "apikeys",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::ApiKeysManage)?;
    let keys = state.identity.list_api_keys().await?;
    Ok(Json(json!({ "items": to_json(&keys)? })))
}

#[utoipa::path(
    get, path = "/api/apikeys/{id}", operation_id = "viewApiKey", tag = "apikeys",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::ApiKey))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::ApiKeysManage)?;
    Ok(Json(to_json(&key_or_404(&state, &id).await?)?))
}

#[utoipa::path(
    post, path = "/api/apikeys", operation_id = "createApiKey", tag = "apikeys",
    security(("authToken" = []), ("apiKey" = [])), request_body = CreateKey, responses((status = 200, description = "The key, with its secret `key` (shown once)", body = crate::openapi::schemas::ApiKey))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::ApiKeysManage)?;
    let input: CreateKey = read_object(&state, &headers, body, Limit::Small).await?;
    may_grant_roles(&state, &caller, &input.roles, true).await?;
    let (key, secret) = state
        .identity
        .create_api_key(&input.name, input.roles, input.expires.as_deref(), &caller.actor())
        .await?;
    let entry = audit::entry(&caller, &origin, "apikey.create")
        .detail("key", key.id.clone())
        .detail("name", key.name.clone())
        .detail("roles", key.roles.clone());
    state.identity.audit(entry).await;
    Ok(Json(with_secret(&key, secret)?))
}
