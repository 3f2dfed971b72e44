//! `POST /api/collections/{c}/auth-revoke` `{id?}`: signs a record out everywhere by rotating
//! its `tokenKey`, which invalidates every auth, file and refresh token issued to it. Without
//! `id` it is the caller's own record; superusers may name any record.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_auth::AuditEntry;
use keel_data::{Access, RequestInfo};
use serde_json::{Map, Value};

use super::{auth_collection, same_collection};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-revoke", operation_id = "authRevoke", tag = "auth",
    security(("authToken" = [])), request_body = crate::openapi::auth::RevokeInput, responses((status = 204, description = "Every token of the record is invalid"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection_name): Path<String>,
    caller: Caller,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let collection = auth_collection(&state, &collection_name)?;
    let asked = form.get("id").and_then(Value::as_str).unwrap_or("").trim().to_string();
    let own = caller
        .auth
        .as_ref()
        .filter(|_| same_collection(&caller, &collection_name))
        .map(|a| a.id().to_string());
    let id = match (asked.is_empty(), own) {
        (true, Some(own)) => own,
        (false, Some(own)) if own == asked => own,
        (false, _) if caller.is_superuser() => asked,
        (_, None) if caller.is_guest() => {
            return Err(ApiError::unauthorized(
                "The request requires valid record authorization token.",
            ))
        }
        _ => return Err(ApiError::forbidden("Only superusers can sign out another record.")),
    };
    let mut data = serde_json::Map::new();
    data.insert("tokenKey".into(), Value::from(keel_core::id::new_secret()));
    state
        .store
        .update_record(&collection, &id, data, &RequestInfo::default(), Access::Superuser)
        .await?;
    state
        .identity
        .audit(
            AuditEntry::new("auth.revoke", true)
                .record(&collection.id, &id)
                .actor(caller.actor())
                .origin(origin.ip, origin.user_agent),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
