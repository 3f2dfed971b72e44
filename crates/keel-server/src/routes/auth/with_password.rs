//! `POST /api/collections/{c}/auth-with-password`: `{identity, password, identityField?}`
//! → `{"token", "record"}` (`keel_app::auth::password` holds the rules).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use keel_app::auth::password::{self, PasswordSignIn};
use serde_json::{Map, Value};

use super::{auth_collection, ShapeParams};
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::{request_info, ClientOrigin};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-with-password", operation_id = "authWithPassword", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::PasswordAuth, responses((status = 200, body = crate::openapi::schemas::AuthResponse), (status = 401, description = "MFA: sign in again with another method and this `mfaId`", body = crate::openapi::schemas::MfaRequired))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(mut form): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let collection = auth_collection(&state, &collection)?;
    let input = PasswordSignIn::from_form(&mut form);
    let req = request_info(&keel_app::Caller::guest(), &method, &uri, headers, form);
    let signed = password::sign_in(&state, &collection, input, req, origin).await?;
    Ok(
        super::signed_json(&state, signed, &ShapeParams::from_query(uri.query()))
            .await?
            .into_response(),
    )
}
