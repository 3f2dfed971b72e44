//! `POST /api/collections/{c}/confirm-password-reset` `{token, password, passwordConfirm}`
//! → 204 and the record has the new password. Setting it rotates the record's `tokenKey`,
//! which signs every token of the record: every session ends, and the reset token itself
//! stops working (it is single use). Like PocketBase, a record that was not verified becomes
//! verified when the token's email is still its email (the mail reached that inbox).
//! The rules are `keel_app::auth::password_reset::confirm`'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::auth_collection;
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::ClientOrigin;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/confirm-password-reset", operation_id = "confirmPasswordReset", tag = "auth",
    request_body = crate::openapi::auth::PasswordResetInput, responses((status = 204, description = "The password is changed; every session ends"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection)?;
    keel_app::auth::password_reset::confirm(&state, &collection, &form, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
