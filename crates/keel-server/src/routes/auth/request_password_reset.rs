//! `POST /api/collections/{c}/request-password-reset` `{email}` → 204, always: when the
//! email belongs to a record, the collection's `resetPasswordTemplate` is sent to it with a
//! password-reset token (`{TOKEN}`). An unknown email gets the same answer.
//! The rules are `keel_app::auth::password_reset::request`'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::auth_collection;
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::ClientOrigin;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/request-password-reset", operation_id = "requestPasswordReset", tag = "auth",
    request_body = crate::openapi::auth::EmailInput, responses((status = 204, description = "Sent when the email is a record's (the same answer otherwise)"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection)?;
    keel_app::auth::password_reset::request(&state, &collection, &form, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
