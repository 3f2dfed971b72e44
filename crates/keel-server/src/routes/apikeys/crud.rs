//! List, create and view API keys (`keel_app::apikeys`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::with_secret;
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::apikeys;

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
    let keys = apikeys::list(&state, &caller).await?;
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
    Ok(Json(to_json(&apikeys::view(&state, &caller, &id).await?)?))
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
    apikeys::may_manage(&caller)?;
    let input: CreateKey = read_object(&state, &headers, body, Limit::Small).await?;
    let (key, secret) = apikeys::create(
        &state,
        &caller,
        &origin,
        &input.name,
        input.roles,
        input.expires.as_deref(),
    )
    .await?;
    Ok(Json(with_secret(&key, secret)?))
}
