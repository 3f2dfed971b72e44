//! `GET /api/cache/{namespace}` (stats, `cache:read`) and `DELETE /api/cache/{namespace}`
//! (clear, `cache:admin`).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::request::Caller;
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::cache;

/// `{"namespace", "provider", "hits", "misses", "evictions", "keys", "capabilities"}`
/// (`keys` is `null` when the provider cannot count them cheaply).
#[utoipa::path(
    get, path = "/api/cache/{namespace}", operation_id = "cacheStats", tag = "cache",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "The namespace's statistics", body = crate::openapi::schemas::Object))
)]
pub(super) async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(&cache::stats(&state, &caller, &namespace).await?)?))
}

/// Removes every entry, tag and counter of the namespace; `{"cleared": N}`.
#[utoipa::path(
    delete, path = "/api/cache/{namespace}", operation_id = "cacheClear", tag = "cache",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "`{cleared}`: how many entries", body = crate::openapi::schemas::Object))
)]
pub(super) async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> ApiResult<Json<Value>> {
    let n = cache::clear(&state, &caller, &namespace).await?;
    Ok(Json(json!({"cleared": n})))
}
