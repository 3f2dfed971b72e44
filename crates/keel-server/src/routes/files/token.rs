//! `POST /api/files/token`: a short-lived token for protected files, for the authenticated caller.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

/// Issues a file token; 401 for guests.
#[utoipa::path(
    post, path = "/api/files/token", operation_id = "fileToken", tag = "files",
    security(("authToken" = [])), responses((status = 200, body = crate::openapi::schemas::FileToken))
)]
pub async fn token(State(_state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "token": keel_app::files::token(&caller)? })))
}
