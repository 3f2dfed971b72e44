//! `POST /api/collections/{c}/request-verification` `{email}` → 204, always: when the email
//! belongs to a record that is not verified yet, the collection's `verificationTemplate` is
//! sent to it with a verification token (`{TOKEN}`). Unknown and already verified emails get
//! the same answer, so the endpoint reveals no account.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use keel_auth::token::TokenKind;
use serde_json::{Map, Value};

use super::auth_collection;
use super::flow;
use super::login::Origin;
use super::mail::{self, Template};
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/request-verification", operation_id = "requestVerification", tag = "auth",
    request_body = crate::openapi::auth::EmailInput, responses((status = 204, description = "Sent when the email is an unverified record's (the same answer otherwise)"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection)?;
    let email = flow::email_field(&form, "email")?;
    let origin = Origin::from_headers(&headers);

    let Some(record) = flow::record_by_email(&state, &collection, &email, "auth.verification_request", &origin).await?
    else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let entry = flow::audit_entry("auth.verification_request", true, &collection, record.id(), &origin).identity(email);
    if record.data.get("verified").and_then(Value::as_bool).unwrap_or(false) {
        state.identity.audit(entry.detail("reason", "already verified")).await;
        return Ok(StatusCode::NO_CONTENT);
    }
    let mut vars = mail::vars(&state, &record);
    vars.token = flow::sign(&collection, &record, TokenKind::Verification, None)?;
    let to = flow::email_of(&record).to_string();
    mail::send_in_background(&state, collection.clone(), Template::Verification, to, vars);
    state.identity.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}
