//! `GET /api/collections/{collection}`: one collection by id or name (secrets masked for
//! non-superusers).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

/// Views one collection.
#[utoipa::path(
    get, path = "/api/collections/{collection}", operation_id = "viewCollection", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Collection))
)]
pub async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(keel_app::collections::view(&state, &caller, &collection)?))
}
