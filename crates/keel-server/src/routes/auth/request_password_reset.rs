//! `POST /api/collections/{c}/request-password-reset` `{email}` → 204, always: when the
//! email belongs to a record, the collection's `resetPasswordTemplate` is sent to it with a
//! password-reset token (`{TOKEN}`). An unknown email gets the same answer.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use keel_auth::token::TokenKind;

use super::auth_collection;
use super::flow;
use super::login::Origin;
use super::mail::{self, Template};
use serde_json::{Map, Value};

use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::state::AppState;

const EVENT: &str = "auth.password_reset_request";

#[utoipa::path(
    post, path = "/api/collections/{collection}/request-password-reset", operation_id = "requestPasswordReset", tag = "auth",
    request_body = crate::openapi::auth::EmailInput, responses((status = 204, description = "Sent when the email is a record's (the same answer otherwise)"))
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

    let Some(record) = flow::record_by_email(&state, &collection, &email, EVENT, &origin).await? else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let mut vars = mail::vars(&state, &record);
    vars.token = flow::sign(&collection, &record, TokenKind::PasswordReset, None)?;
    let to = flow::email_of(&record).to_string();
    mail::send_in_background(&state, collection.clone(), Template::ResetPassword, to, vars);
    let entry = flow::audit_entry(EVENT, true, &collection, record.id(), &origin).identity(email);
    state.identity.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}
