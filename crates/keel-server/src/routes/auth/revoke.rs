//! `POST /api/collections/{c}/auth-revoke` `{id?}`: signs a record out everywhere by rotating
//! its `tokenKey`, which invalidates every auth, file and refresh token issued to it. Without
//! `id` it is the caller's own record; superusers may name any record.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-revoke", operation_id = "authRevoke", tag = "auth",
    security(("authToken" = [])), request_body = crate::openapi::auth::RevokeInput, responses((status = 204, description = "Every token of the record is invalid"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    caller: Caller,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let asked = form.get("id").and_then(Value::as_str).unwrap_or("");
    keel_app::auth::session::revoke(&state, &caller, &collection, asked, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
