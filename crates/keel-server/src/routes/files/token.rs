//! `POST /api/files/token`: a short-lived token for protected files, for the authenticated caller.

use axum::extract::State;
use axum::Json;
use keel_auth::token::{sign, Claims, TokenKind};
use keel_core::Error;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;

/// Issues a file token; 401 for guests.
#[utoipa::path(
    post, path = "/api/files/token", operation_id = "fileToken", tag = "files",
    security(("authToken" = [])), responses((status = 200, body = crate::openapi::schemas::FileToken))
)]
pub async fn token(State(_state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let Some(auth) = caller.auth.as_ref() else {
        return Err(ApiError::unauthorized(
            "The request requires valid record authorization token.",
        ));
    };
    let opts = auth
        .collection
        .auth
        .as_ref()
        .ok_or_else(|| ApiError(Error::internal("auth record of a non-auth collection")))?;
    let token_key = auth.record.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    let claims = Claims::new(
        TokenKind::File,
        auth.id(),
        &auth.collection.id,
        opts.file_token.duration,
    );
    let token = sign(&claims, &opts.file_token.secret, token_key)?;
    Ok(Json(json!({ "token": token })))
}
