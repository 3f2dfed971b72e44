//! `POST /api/collections/{c}/auth-with-otp` `{otpId, password, mfaId?}` → `{"token",
//! "record"}` (or 401 `{"mfaId"}` when MFA asks for another factor), through
//! `login::complete` with method `otp`. The code (`password`) works once and until
//! `otp.duration` seconds after it was sent; a wrong, used or expired one is a failed
//! sign-in (audit entry, lockout counter of the address the code went to) and 400
//! "Failed to authenticate.". Like PocketBase, success marks the record verified when the
//! code went to its current email.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use keel_core::error::{FieldError, FieldErrors};
use keel_data::{Access, RequestInfo};
use serde_json::{Map, Value};

use super::flow;
use super::login::{complete, failed, Login, Origin};
use super::request_otp::otp_enabled;
use super::{auth_collection, ShapeParams};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-with-otp", operation_id = "authWithOtp", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::OtpAuth, responses((status = 200, body = crate::openapi::schemas::AuthResponse), (status = 401, description = "MFA: sign in again with another method and this `mfaId`", body = crate::openapi::schemas::MfaRequired))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(mut form): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let collection = auth_collection(&state, &collection)?;
    let opts = collection.auth.as_ref().ok_or_else(ApiError::not_found)?;
    if !otp_enabled(&opts.otp) {
        return Err(ApiError::forbidden(
            "The collection is not configured to allow OTP authentication.",
        ));
    }
    let duration = opts.otp.get("duration").and_then(Value::as_i64).unwrap_or(180);
    let otp_id = flow::text(&form, "otpId");
    let code = flow::text(&form, "password");
    let mfa_id = flow::text(&form, "mfaId");
    let mut errors = FieldErrors::new();
    for (name, value) in [("otpId", &otp_id), ("password", &code)] {
        if value.trim().is_empty() {
            errors.insert(name.into(), FieldError::new("validation_required", "Cannot be blank."));
        } else if value.chars().count() > 255 {
            errors.insert(
                name.into(),
                FieldError::new(
                    "validation_length_out_of_range",
                    "The length must be between 1 and 255.",
                ),
            );
        }
    }
    if !errors.is_empty() {
        return Err(ApiError(keel_core::Error::fields(errors)));
    }
    let origin = Origin::from_headers(&headers);
    let fail = || ApiError::bad_request("Failed to authenticate.");

    let Some((owner, sent_to)) = state.identity.otp_owner(&collection.id, &otp_id).await? else {
        failed(&state, &collection, "otp", &otp_id, &origin).await;
        return Err(fail());
    };
    crate::lockout::attempt(&state, &collection.id, &sent_to).await?;
    let taken = state
        .identity
        .take_otp(&collection.id, &otp_id, &code, duration)
        .await?;
    if taken.as_deref() != Some(owner.as_str()) {
        failed(&state, &collection, "otp", &sent_to, &origin).await;
        return Err(fail());
    }
    let record = match state
        .store
        .get_record(&collection, &owner, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(r) => r,
        Err(keel_core::Error::NotFound(_)) => return Err(fail()),
        Err(e) => return Err(e.into()),
    };
    crate::lockout::reset(&state, &collection.id, &sent_to).await;

    let verified = record.data.get("verified").and_then(Value::as_bool).unwrap_or(false);
    let record = if !verified && sent_to.eq_ignore_ascii_case(flow::email_of(&record)) {
        let mut data = Map::new();
        data.insert("verified".into(), Value::Bool(true));
        let (_, after) = state
            .store
            .update_record(
                &collection,
                record.id(),
                data,
                &RequestInfo::default(),
                Access::Superuser,
            )
            .await?;
        after
    } else {
        record
    };

    form.remove("password");
    let req = request_info(&Caller::guest(), &method, &uri, &headers, form);
    let login = Login {
        collection: &collection,
        record,
        method: "otp",
        mfa_id: (!mfa_id.is_empty()).then_some(mfa_id),
        req,
        shape: ShapeParams::from_query(uri.query()),
        origin,
        extra: None,
    };
    complete(&state, login).await
}
