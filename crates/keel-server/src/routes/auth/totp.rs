//! TOTP second factor (Keel's extension of PocketBase's MFA), for the signed-in record:
//! - `GET  /api/collections/{c}/totp` → `{"enabled"}`
//! - `POST /api/collections/{c}/totp/setup` → `{"secret", "uri"}` (a new, not yet active secret)
//! - `POST /api/collections/{c}/totp/confirm` `{code}` → `{"recoveryCodes": [...]}` (shown once)
//! - `POST /api/collections/{c}/totp/disable` `{code}` or `{recoveryCode}` → 204
//! - `POST /api/collections/{c}/auth-with-totp` `{mfaId, code}` or `{mfaId, recoveryCode}`:
//!   the second step of a sign-in whose first factor answered 401 `{"mfaId"}`.
//!
//! The rules are `keel_app::auth::totp`'s.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_app::auth::totp;
use serde_json::{json, Map, Value};

use super::{auth_collection, ShapeParams};
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::{request_info, Caller, ClientOrigin};
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/collections/{collection}/totp", operation_id = "totpStatus", tag = "auth",
    security(("authToken" = [])), responses((status = 200, body = crate::openapi::auth::TotpStatus))
)]
pub(super) async fn status(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let enabled = totp::enabled(&state, &caller, &collection).await?;
    Ok(Json(json!({"enabled": enabled})))
}

#[utoipa::path(
    post, path = "/api/collections/{collection}/totp/setup", operation_id = "totpSetup", tag = "auth",
    security(("authToken" = [])), responses((status = 200, description = "A new secret, active once confirmed", body = crate::openapi::auth::TotpSetup))
)]
pub(super) async fn setup(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let s = totp::setup(&state, &caller, &collection, &origin).await?;
    Ok(Json(json!({"secret": s.secret, "uri": s.uri})))
}

#[utoipa::path(
    post, path = "/api/collections/{collection}/totp/confirm", operation_id = "totpConfirm", tag = "auth",
    security(("authToken" = [])), request_body = crate::openapi::auth::TotpCode, responses((status = 200, body = crate::openapi::auth::RecoveryCodes))
)]
pub(super) async fn confirm(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    caller: Caller,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let codes = totp::confirm(&state, &caller, &collection, &form, &origin).await?;
    Ok(Json(json!({"recoveryCodes": codes})))
}

#[utoipa::path(
    post, path = "/api/collections/{collection}/totp/disable", operation_id = "totpDisable", tag = "auth",
    security(("authToken" = [])), request_body = crate::openapi::auth::TotpCode, responses((status = 204, description = "TOTP is off"))
)]
pub(super) async fn disable(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    caller: Caller,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    totp::disable(&state, &caller, &collection, &form, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-with-totp", operation_id = "authWithTotp", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::TotpAuth, responses((status = 200, body = crate::openapi::schemas::AuthResponse))
)]
pub(super) async fn auth_with_totp(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let collection = auth_collection(&state, &collection)?;
    let req = request_info(&keel_app::Caller::guest(), &method, &uri, headers, Map::new());
    let signed = totp::sign_in(&state, &collection, form, req, origin).await?;
    Ok(
        super::signed_json(&state, signed, &ShapeParams::from_query(uri.query()))
            .await?
            .into_response(),
    )
}
