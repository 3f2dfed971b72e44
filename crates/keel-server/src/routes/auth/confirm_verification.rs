//! `POST /api/collections/{c}/confirm-verification` `{token}` → 204 and the record is
//! verified. The token must be a verification token of this collection, still valid, and
//! for the record's current email; otherwise 400 naming `token`.
//! The rules are `keel_app::auth::verification::confirm`'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::auth_collection;
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::ClientOrigin;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/confirm-verification", operation_id = "confirmVerification", tag = "auth",
    request_body = crate::openapi::auth::TokenInput, responses((status = 204, description = "The record is verified"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection)?;
    keel_app::auth::verification::confirm(&state, &collection, &form, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
