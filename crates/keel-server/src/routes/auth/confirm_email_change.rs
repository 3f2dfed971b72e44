//! `POST /api/collections/{c}/confirm-email-change` `{token, password}` → 204: the record's
//! email becomes the token's `newEmail`, the record is verified (the mail reached that
//! inbox) and its `tokenKey` rotates, ending every session. The password is the record's
//! current one (400 naming `password` when wrong); a bad token is a 400 naming `token`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use keel_auth::token::TokenKind;
use serde_json::{Map, Value};

use super::auth_collection;
use super::flow;
use super::login::Origin;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const EVENT: &str = "auth.email_change_confirm";

#[utoipa::path(
    post, path = "/api/collections/{collection}/confirm-email-change", operation_id = "confirmEmailChange", tag = "auth",
    request_body = crate::openapi::auth::EmailChangeInput, responses((status = 204, description = "The email is changed"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection)?;
    let origin = Origin::from_headers(&headers);
    let raw = flow::text(&form, "token");
    let password = flow::text(&form, "password");
    let (record, claims) = flow::verify(&state, &collection, &raw, TokenKind::EmailChange, EVENT, &origin).await?;
    let entry = |ok| flow::audit_entry(EVENT, ok, &collection, record.id(), &origin);

    let new_email = claims.new_email.clone().unwrap_or_default();
    let same_old = claims
        .email
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(flow::email_of(&record)));
    if new_email.is_empty() || !same_old {
        state.identity.audit(entry(false).detail("reason", "stale token")).await;
        return Err(ApiError::field(
            "token",
            "validation_invalid_token",
            "Invalid or expired token.",
        ));
    }
    if password.is_empty() {
        return Err(ApiError::field("password", "validation_required", "Cannot be blank."));
    }
    let hash = record
        .data
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let matches = tokio::task::spawn_blocking(move || keel_auth::verify_password(&password, &hash))
        .await
        .map_err(keel_core::Error::internal)?;
    if !matches {
        state
            .identity
            .audit(entry(false).detail("reason", "wrong password"))
            .await;
        return Err(ApiError::field(
            "password",
            "validation_invalid_password",
            "Invalid password.",
        ));
    }
    let taken = state
        .store
        .find_by_field(&collection, "email", &Value::String(new_email.clone()))
        .await?
        .is_some_and(|r| r.id() != record.id());
    if taken {
        return Err(ApiError::field(
            "token",
            "validation_not_unique",
            "The new email address is already in use.",
        ));
    }

    let mut data = Map::new();
    data.insert("email".into(), Value::String(new_email.clone()));
    data.insert("verified".into(), Value::Bool(true));
    data.insert("tokenKey".into(), Value::String(keel_core::id::new_secret()));
    flow::write_if_token_unchanged(&state, &collection, &record, data).await?;
    state.identity.audit(entry(true).detail("newEmail", new_email)).await;
    Ok(StatusCode::NO_CONTENT)
}
