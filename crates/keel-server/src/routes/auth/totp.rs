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

pub(super) async fn status(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let enabled = totp::enabled(&state, &caller, &collection).await?;
    Ok(Json(json!({"enabled": enabled})))
}

pub(super) async fn setup(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let s = totp::setup(&state, &caller, &collection, &origin).await?;
    Ok(Json(json!({"secret": s.secret, "uri": s.uri})))
}

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
    let req = request_info(&keel_app::Caller::guest(), &method, &uri, &headers, Map::new());
    let signed = totp::sign_in(&state, &collection, form, req, origin).await?;
    Ok(
        super::signed_json(&state, signed, &ShapeParams::from_query(uri.query()))
            .await?
            .into_response(),
    )
}
