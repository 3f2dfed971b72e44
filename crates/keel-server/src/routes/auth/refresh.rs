//! `POST /api/collections/{c}/auth-refresh`: a valid auth token of that collection gets a
//! new token and its current record.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use serde_json::{Map, Value};

use super::{auth_collection, auth_response, caller_record, same_collection, ShapeParams};
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-refresh", operation_id = "authRefresh", tag = "auth",
    security(("authToken" = [])), params(crate::openapi::params::RecordQuery), responses((status = 200, body = crate::openapi::schemas::AuthResponse))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    caller: Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let Some(auth) = caller.auth.as_ref() else {
        return Err(ApiError::unauthorized(
            "The request requires valid record authorization token.",
        ));
    };
    if !same_collection(&caller, &collection) {
        return Err(ApiError::unauthorized(
            "The token belongs to another auth collection; sign in to this one.",
        ));
    }
    let collection = auth_collection(&state, &collection)?;
    // Impersonation tokens are not refreshable.
    let refreshable = crate::request::bearer(&headers)
        .and_then(|raw| keel_auth::token::peek(raw).ok())
        .is_some_and(|c| c.refreshable);
    if !refreshable {
        return Err(ApiError::forbidden("This token cannot be refreshed; sign in again."));
    }
    let record = caller_record(auth);
    let req = request_info(&caller, &method, &uri, &headers, Map::new());
    let origin = super::login::Origin::from_headers(&headers);
    let entry = keel_auth::AuditEntry::new("auth.refresh", true)
        .record(&collection.id, record.id())
        .actor(caller.actor())
        .origin(origin.ip, origin.user_agent);
    let out = auth_response(&state, &collection, record, req, &ShapeParams::from_query(uri.query())).await?;
    state.identity.audit(entry).await;
    Ok(out)
}
