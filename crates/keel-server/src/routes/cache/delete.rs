//! `DELETE /api/cache/{namespace}/{key}`: 204 if the key was there, else 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::cache;

#[utoipa::path(
    delete, path = "/api/cache/{namespace}/{key}", operation_id = "cacheDelete", tag = "cache",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete_value(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cache::delete(&state, &caller, &namespace, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
