//! `POST /api/collections/{c}/request-verification` `{email}` → 204, always: when the email
//! belongs to a record that is not verified yet, the collection's `verificationTemplate` is
//! sent to it with a verification token (`{TOKEN}`). Unknown and already verified emails get
//! the same answer, so the endpoint reveals no account.
//! The rules are `keel_app::auth::verification::request`'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::auth_collection;
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::ClientOrigin;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/request-verification", operation_id = "requestVerification", tag = "auth",
    request_body = crate::openapi::auth::EmailInput, responses((status = 204, description = "Sent when the email is an unverified record's (the same answer otherwise)"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection)?;
    keel_app::auth::verification::request(&state, &collection, &form, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
