//! `POST /api/collections/{c}/auth-with-ldap` (Keel's extension): `{username, password,
//! mfaId?}` → `{"token", "record"}`, checked against the collection's directory
//! (`keel_app::auth::ldap::sign_in` holds the rules).

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
    post, path = "/api/collections/{collection}/auth-with-ldap", operation_id = "authWithLdap", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::LdapAuth, responses((status = 200, body = crate::openapi::schemas::AuthResponse), (status = 401, description = "MFA: sign in again with another method and this `mfaId`", body = crate::openapi::schemas::MfaRequired))
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
    let signed = keel_app::auth::ldap::sign_in(&state, &collection, form, req, origin).await?;
    Ok(
        super::signed_json(&state, signed, &ShapeParams::from_query(parts.uri.query()))
            .await?
            .into_response(),
    )
}
