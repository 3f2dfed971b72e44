//! `POST /api/collections/{c}/confirm-verification` `{token}` → 204 and the record is
//! verified. The token must be a verification token of this collection, still valid, and
//! for the record's current email; otherwise 400 naming `token`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use keel_auth::token::TokenKind;
use keel_data::{Access, RequestInfo};
use serde_json::{Map, Value};

use super::auth_collection;
use super::flow;
use super::login::Origin;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const EVENT: &str = "auth.verification_confirm";

#[utoipa::path(
    post, path = "/api/collections/{collection}/confirm-verification", operation_id = "confirmVerification", tag = "auth",
    request_body = crate::openapi::auth::TokenInput, responses((status = 204, description = "The record is verified"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection)?;
    let raw = flow::text(&form, "token");
    let origin = Origin::from_headers(&headers);
    let (record, claims) = flow::verify(&state, &collection, &raw, TokenKind::Verification, EVENT, &origin).await?;

    let entry = |ok| flow::audit_entry(EVENT, ok, &collection, record.id(), &origin);
    if !claims
        .email
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(flow::email_of(&record)))
    {
        state
            .identity
            .audit(entry(false).detail("reason", "email changed"))
            .await;
        return Err(ApiError::field(
            "token",
            "validation_token_email_mismatch",
            "The token was issued for another email address.",
        ));
    }
    if !record.data.get("verified").and_then(Value::as_bool).unwrap_or(false) {
        let mut data = Map::new();
        data.insert("verified".into(), Value::Bool(true));
        state
            .store
            .update_record(
                &collection,
                record.id(),
                data,
                &RequestInfo::default(),
                Access::Superuser,
            )
            .await?;
    }
    state.identity.audit(entry(true)).await;
    Ok(StatusCode::NO_CONTENT)
}
