//! `POST /api/collections/{c}/request-email-change` `{newEmail}` with the record's own auth
//! token → 204: the collection's `confirmEmailChangeTemplate` is sent to the NEW address
//! with an email-change token (`{TOKEN}`, claims `email` and `newEmail`). A blank, malformed
//! or taken `newEmail` is a 400 naming it. The email is sent before answering, so a failing
//! mail server is reported to the caller.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use keel_auth::token::TokenKind;
use serde_json::{Map, Value};

use super::flow;
use super::login::Origin;
use super::mail::{self, Template};
use super::{auth_collection, caller_record, same_collection};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;

const EVENT: &str = "auth.email_change_request";

#[utoipa::path(
    post, path = "/api/collections/{collection}/request-email-change", operation_id = "requestEmailChange", tag = "auth",
    security(("authToken" = [])), request_body = crate::openapi::auth::NewEmailInput, responses((status = 204, description = "Sent to the new address"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let Some(auth) = caller.auth.as_ref() else {
        return Err(ApiError::unauthorized(
            "The request requires valid record authorization token.",
        ));
    };
    if !same_collection(&caller, &collection) {
        return Err(ApiError::forbidden(
            "The authorized record is not allowed to perform this action.",
        ));
    }
    let collection = auth_collection(&state, &collection)?;
    let record = caller_record(auth);
    let new_email = flow::email_field(&form, "newEmail")?;
    let origin = Origin::from_headers(&headers);

    let taken = state
        .store
        .find_by_field(&collection, "email", &Value::String(new_email.clone()))
        .await?
        .is_some();
    if taken {
        return Err(ApiError::field(
            "newEmail",
            "validation_not_unique",
            "The email is invalid or already in use.",
        ));
    }
    let mut vars = mail::vars(&state, &record);
    vars.token = flow::sign(&collection, &record, TokenKind::EmailChange, Some(new_email.clone()))?;
    let sent = mail::send(&state, &collection, Template::ConfirmEmailChange, &new_email, &vars).await;
    let entry = flow::audit_entry(EVENT, sent.is_ok(), &collection, record.id(), &origin)
        .actor(caller.actor())
        .detail("newEmail", new_email);
    state.identity.audit(entry).await;
    sent?;
    Ok(StatusCode::NO_CONTENT)
}
