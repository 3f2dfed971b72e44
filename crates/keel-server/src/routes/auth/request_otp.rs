//! `POST /api/collections/{c}/request-otp` `{email}` → 200 `{"otpId"}`, when the collection's
//! `otp.enabled` (403 otherwise); `keel_app::auth::otp::request` sends the code.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Map, Value};

use super::auth_collection;
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::ClientOrigin;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/request-otp", operation_id = "requestOtp", tag = "auth",
    request_body = crate::openapi::auth::EmailInput, responses((status = 200, body = crate::openapi::auth::OtpRequested))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let collection = auth_collection(&state, &collection)?;
    let otp_id = keel_app::auth::otp::request(&state, &collection, &form, &origin).await?;
    Ok(Json(json!({"otpId": otp_id})))
}
