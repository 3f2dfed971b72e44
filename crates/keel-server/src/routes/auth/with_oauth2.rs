//! `POST /api/collections/{c}/auth-with-oauth2`: `{provider, code, codeVerifier, redirectURL,
//! createData?, mfaId?}` → `{"token", "record", "meta"}`, PocketBase's OAuth2 sign-in (the JS
//! SDK's `authWithOAuth2Code`, and the last step of its realtime `authWithOAuth2`); the rules
//! are `keel_app::auth::oauth2::sign_in`'s.

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::{auth_collection, ShapeParams};
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::{request_info, Caller, ClientOrigin};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-with-oauth2", operation_id = "authWithOAuth2", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::OAuth2Auth, responses((status = 200, body = crate::openapi::schemas::AuthResponse), (status = 401, description = "MFA: sign in again with another method and this `mfaId`", body = crate::openapi::schemas::MfaRequired))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    caller: Caller,
    Path(collection): Path<String>,
    parts: Parts,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let collection = auth_collection(&state, &collection)?;
    let req = request_info(&caller, &parts.method, &parts.uri, parts.headers, Map::new());
    let signed = keel_app::auth::oauth2::sign_in(&state, &caller, &collection, form, req, origin).await?;
    Ok(
        super::signed_json(&state, signed, &ShapeParams::from_query(parts.uri.query()))
            .await?
            .into_response(),
    )
}
