//! `POST /api/collections/{c}/request-otp` `{email}` → 200 `{"otpId"}`, when the collection's
//! `otp.enabled` (403 otherwise). For a record with that email a one-time code of
//! `otp.length` digits is stored (hashed) and the collection's `otp.emailTemplate` is sent
//! with `{OTP}` and `{OTP_ID}`. An unknown email gets an id of the same shape that no OTP
//! has (PocketBase's enumeration protection), after about the same work.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};

use super::auth_collection;
use super::flow;
use super::login::Origin;
use super::mail::{self, Template};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const EVENT: &str = "auth.otp_request";

#[utoipa::path(
    post, path = "/api/collections/{collection}/request-otp", operation_id = "requestOtp", tag = "auth",
    request_body = crate::openapi::auth::EmailInput, responses((status = 200, body = crate::openapi::auth::OtpRequested))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let collection = auth_collection(&state, &collection)?;
    let opts = collection.auth.as_ref().ok_or_else(ApiError::not_found)?;
    if !otp_enabled(&opts.otp) {
        return Err(ApiError::forbidden(
            "The collection is not configured to allow OTP authentication.",
        ));
    }
    let length = opts.otp.get("length").and_then(Value::as_u64).unwrap_or(8) as usize;
    let email = flow::email_field(&form, "email")?;
    let origin = Origin::from_headers(&headers);

    let Some(record) = flow::record_by_email(&state, &collection, &email, EVENT, &origin).await? else {
        // The real path hashes the code: spend the same.
        let _ = tokio::task::spawn_blocking(|| keel_auth::hash_password("keel-no-such-otp")).await;
        return Ok(Json(json!({"otpId": keel_core::id::new_id()})));
    };
    let to = flow::email_of(&record).to_string();
    let (otp_id, code) = state
        .identity
        .create_otp(&collection.id, record.id(), &to, length)
        .await?;
    let mut vars = mail::vars(&state, &record);
    vars.otp = code;
    vars.otp_id = otp_id.clone();
    mail::send_in_background(&state, collection.clone(), Template::Otp, to, vars);
    let entry = flow::audit_entry(EVENT, true, &collection, record.id(), &origin).identity(email);
    state.identity.audit(entry.detail("otpId", otp_id.clone())).await;
    Ok(Json(json!({"otpId": otp_id})))
}

/// Whether an `otp` options object has `enabled: true`.
pub(super) fn otp_enabled(otp: &Value) -> bool {
    otp.get("enabled").and_then(Value::as_bool).unwrap_or(false)
}
