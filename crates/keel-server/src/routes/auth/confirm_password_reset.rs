//! `POST /api/collections/{c}/confirm-password-reset` `{token, password, passwordConfirm}`
//! → 204 and the record has the new password. Setting it rotates the record's `tokenKey`,
//! which signs every token of the record: every session ends, and the reset token itself
//! stops working (it is single use). Like PocketBase, a record that was not verified becomes
//! verified when the token's email is still its email (the mail reached that inbox).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use keel_auth::token::TokenKind;
use serde_json::{Map, Value};

use super::auth_collection;
use super::flow;
use super::login::Origin;
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::routes::records::auth_fields;
use crate::state::AppState;

const EVENT: &str = "auth.password_reset_confirm";

#[utoipa::path(
    post, path = "/api/collections/{collection}/confirm-password-reset", operation_id = "confirmPasswordReset", tag = "auth",
    request_body = crate::openapi::auth::PasswordResetInput, responses((status = 204, description = "The password is changed; every session ends"))
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
    let (record, claims) = flow::verify(&state, &collection, &raw, TokenKind::PasswordReset, EVENT, &origin).await?;

    let mut data = Map::new();
    for key in ["password", "passwordConfirm"] {
        data.insert(key.into(), Value::String(flow::text(&form, key)));
    }
    let col = collection.clone();
    let data = tokio::task::spawn_blocking(move || auth_fields::prepare_password_reset(&col, &mut data).map(|()| data))
        .await
        .map_err(keel_core::Error::internal)??;
    let mut data = data;
    let verified = record.data.get("verified").and_then(Value::as_bool).unwrap_or(false);
    if !verified
        && claims
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(flow::email_of(&record)))
    {
        data.insert("verified".into(), Value::Bool(true));
    }
    // A new password makes the store rotate `tokenKey`; a racing confirmation of the same
    // token finds it rotated.
    flow::write_if_token_unchanged(&state, &collection, &record, data).await?;
    let entry = flow::audit_entry(EVENT, true, &collection, record.id(), &origin);
    state.identity.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}
