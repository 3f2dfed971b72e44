//! `POST /api/collections/{c}/confirm-email-change` `{token, password}` → 204: the record's
//! email becomes the token's `newEmail`, the record is verified (the mail reached that
//! inbox) and its `tokenKey` rotates, ending every session. The password is the record's
//! current one (400 naming `password` when wrong); a bad token is a 400 naming `token`.
//! The rules are `keel_app::auth::email_change::confirm`'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::auth_collection;
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::ClientOrigin;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/confirm-email-change", operation_id = "confirmEmailChange", tag = "auth",
    request_body = crate::openapi::auth::EmailChangeInput, responses((status = 204, description = "The email is changed"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection)?;
    keel_app::auth::email_change::confirm(&state, &collection, &form, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
