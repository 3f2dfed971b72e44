//! TOTP second factor (Keel's extension of PocketBase's MFA), for the signed-in record:
//! - `GET  /api/collections/{c}/totp` → `{"enabled"}`
//! - `POST /api/collections/{c}/totp/setup` → `{"secret", "uri"}` (a new, not yet active secret)
//! - `POST /api/collections/{c}/totp/confirm` `{code}` → `{"recoveryCodes": [...]}` (shown once)
//! - `POST /api/collections/{c}/totp/disable` `{code}` or `{recoveryCode}` → 204
//! - `POST /api/collections/{c}/auth-with-totp` `{mfaId, code}` or `{mfaId, recoveryCode}`:
//!   the second step of a sign-in whose first factor answered 401 `{"mfaId"}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_auth::AuditEntry;
use keel_data::{Access, AuthRecord, RequestInfo};
use serde_json::{json, Map, Value};

use super::login::{complete, failed, mfa_duration, Login, Origin};
use super::{auth_collection, same_collection, ShapeParams};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;

fn own<'a>(caller: &'a Caller, collection: &str) -> ApiResult<&'a AuthRecord> {
    let auth = caller
        .auth
        .as_ref()
        .ok_or_else(|| ApiError::unauthorized("The request requires valid record authorization token."))?;
    if !same_collection(caller, collection) {
        return Err(ApiError::unauthorized(
            "The token belongs to another auth collection; sign in to this one.",
        ));
    }
    Ok(auth)
}

fn text(form: &Map<String, Value>, key: &str) -> String {
    form.get(key).and_then(Value::as_str).unwrap_or("").trim().to_string()
}

fn entry(auth: &AuthRecord, event: &str, success: bool, headers: &HeaderMap) -> AuditEntry {
    let origin = Origin::from_headers(headers);
    AuditEntry::new(event, success)
        .record(&auth.collection.id, auth.id())
        .actor(format!("{}/{}", auth.collection.name, auth.id()))
        .origin(origin.ip, origin.user_agent)
}

#[utoipa::path(
    get, path = "/api/collections/{collection}/totp", operation_id = "totpStatus", tag = "auth",
    security(("authToken" = [])), responses((status = 200, body = crate::openapi::auth::TotpStatus))
)]
pub(super) async fn status(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let auth = own(&caller, &collection)?;
    let t = state.identity.totp(&auth.collection.id, auth.id()).await?;
    Ok(Json(json!({"enabled": t.is_some_and(|t| t.enabled)})))
}

#[utoipa::path(
    post, path = "/api/collections/{collection}/totp/setup", operation_id = "totpSetup", tag = "auth",
    security(("authToken" = [])), responses((status = 200, description = "A new secret, active once confirmed", body = crate::openapi::auth::TotpSetup))
)]
pub(super) async fn setup(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let auth = own(&caller, &collection)?;
    let secret = state.identity.totp_begin(&auth.collection.id, auth.id()).await?;
    let account = auth
        .record
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .unwrap_or(auth.id())
        .to_string();
    let issuer = state.settings.get().meta.app_name.clone();
    let uri = keel_auth::totp::otpauth_uri(&secret, &issuer, &account)
        .ok_or_else(|| ApiError(keel_core::Error::internal("cannot build the otpauth URI")))?;
    state.identity.audit(entry(auth, "totp.setup", true, &headers)).await;
    Ok(Json(json!({"secret": secret, "uri": uri})))
}

#[utoipa::path(
    post, path = "/api/collections/{collection}/totp/confirm", operation_id = "totpConfirm", tag = "auth",
    security(("authToken" = [])), request_body = crate::openapi::auth::TotpCode, responses((status = 200, body = crate::openapi::auth::RecoveryCodes))
)]
pub(super) async fn confirm(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let auth = own(&caller, &collection)?;
    let code = text(&form, "code");
    if code.is_empty() {
        return Err(ApiError::field(
            "code",
            "validation_required",
            "Enter the 6-digit code from your app.",
        ));
    }
    let codes = state
        .identity
        .totp_enable(&auth.collection.id, auth.id(), &code)
        .await?;
    state.identity.audit(entry(auth, "totp.enable", true, &headers)).await;
    Ok(Json(json!({"recoveryCodes": codes})))
}

#[utoipa::path(
    post, path = "/api/collections/{collection}/totp/disable", operation_id = "totpDisable", tag = "auth",
    security(("authToken" = [])), request_body = crate::openapi::auth::TotpCode, responses((status = 204, description = "TOTP is off"))
)]
pub(super) async fn disable(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let auth = own(&caller, &collection)?;
    let (cid, rid) = (auth.collection.id.clone(), auth.id().to_string());
    if !second_factor(&state, &cid, &rid, &form).await? {
        state.identity.audit(entry(auth, "totp.disable", false, &headers)).await;
        return Err(ApiError::field(
            "code",
            "validation_invalid_code",
            "The code is wrong or was already used.",
        ));
    }
    state.identity.totp_disable(&cid, &rid).await?;
    state.identity.audit(entry(auth, "totp.disable", true, &headers)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks `code` (TOTP) or `recoveryCode` (single use) from the body.
async fn second_factor(state: &AppState, cid: &str, rid: &str, form: &Map<String, Value>) -> ApiResult<bool> {
    let (code, recovery) = (text(form, "code"), text(form, "recoveryCode"));
    if !code.is_empty() {
        return Ok(state.identity.totp_check(cid, rid, &code, false).await?);
    }
    if !recovery.is_empty() {
        return Ok(state.identity.use_recovery_code(cid, rid, &recovery).await?);
    }
    Err(ApiError::field(
        "code",
        "validation_required",
        "Send the TOTP code (code) or a recovery code (recoveryCode).",
    ))
}

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-with-totp", operation_id = "authWithTotp", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::TotpAuth, responses((status = 200, body = crate::openapi::schemas::AuthResponse))
)]
pub(super) async fn auth_with_totp(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let collection = auth_collection(&state, &collection)?;
    let mut mfa_id = text(&form, "mfaId");
    if mfa_id.is_empty() {
        // The JS SDK sends `{ mfaId }` options in the query string.
        let query = crate::request::form_pairs(uri.query().unwrap_or(""));
        mfa_id = query
            .into_iter()
            .find(|(k, _)| k == "mfaId")
            .map(|(_, v)| v)
            .unwrap_or_default();
    }
    if mfa_id.is_empty() {
        return Err(ApiError::field(
            "mfaId",
            "validation_required",
            "Send the mfaId of the first sign-in step.",
        ));
    }
    let origin = Origin::from_headers(&headers);
    let (rid, _) = state
        .identity
        .mfa_session(&collection.id, &mfa_id, mfa_duration(&collection))
        .await?
        .ok_or_else(|| ApiError::unauthorized("The MFA session is invalid or has expired; sign in again."))?;
    crate::lockout::attempt(&state, &collection.id, &rid).await?;
    if !second_factor(&state, &collection.id, &rid, &form).await? {
        failed(&state, &collection, "totp", &rid, &origin).await;
        return Err(ApiError::bad_request("Failed to authenticate."));
    }
    crate::lockout::reset(&state, &collection.id, &rid).await;
    let record = state
        .store
        .get_record(&collection, &rid, &RequestInfo::default(), Access::Superuser)
        .await?;
    let mut form = form;
    form.remove("code");
    form.remove("recoveryCode");
    let req = request_info(&Caller::guest(), &method, &uri, &headers, form);
    let login = Login {
        collection: &collection,
        record,
        method: "totp",
        mfa_id: Some(mfa_id),
        req,
        shape: ShapeParams::from_query(uri.query()),
        origin,
        extra: None,
    };
    Ok(complete(&state, login).await?.into_response())
}
