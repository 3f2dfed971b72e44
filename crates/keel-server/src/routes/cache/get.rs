//! `GET /api/cache/{namespace}/{key}`: the stored JSON value, or 404.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::cache;

#[utoipa::path(
    get, path = "/api/cache/{namespace}/{key}", operation_id = "cacheGet", tag = "cache",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "The stored JSON value", body = serde_json::Value))
)]
pub(super) async fn get_value(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(cache::get(&state, &caller, &namespace, &key).await?))
}
