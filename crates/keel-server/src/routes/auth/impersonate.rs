//! `POST /api/collections/{c}/impersonate/{id}` (superusers): a non-refreshable auth token
//! for any record, `{duration}` seconds long (0 = the collection's auth token duration).
//! Every impersonation is in the audit trail.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::Json;
use keel_auth::token::{self, Claims, TokenKind};
use keel_auth::AuditEntry;
use keel_data::{Access, RequestInfo};
use serde_json::{json, Map, Value};

use super::login::Origin;
use super::{auth_collection, ShapeParams};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::serialize::{pick_fields, record_json};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/impersonate/{id}", operation_id = "impersonate", tag = "auth",
    security(("authToken" = [])), params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::ImpersonateInput, responses((status = 200, body = crate::openapi::schemas::AuthResponse))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    caller.require_superuser()?;
    let collection = auth_collection(&state, &collection)?;
    let opts = collection.auth.as_ref().ok_or_else(ApiError::not_found)?;
    let duration = match form.get("duration") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().filter(|d| *d >= 0).ok_or_else(|| {
            ApiError::field(
                "duration",
                "validation_invalid_number",
                "Must be a whole number of seconds, 0 or more.",
            )
        })?,
    };
    let duration = if duration == 0 {
        opts.auth_token.duration
    } else {
        duration
    };
    let record = state
        .store
        .get_record(&collection, &id, &RequestInfo::default(), Access::Superuser)
        .await?;
    let token_key = record.data.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    let mut claims = Claims::new(TokenKind::Auth, record.id(), &collection.id, duration);
    claims.refreshable = false;
    let token = token::sign(&claims, &opts.auth_token.secret, token_key)?;

    let origin = Origin::from_headers(&headers);
    state
        .identity
        .audit(
            AuditEntry::new("auth.impersonate", true)
                .record(&collection.id, record.id())
                .actor(caller.actor())
                .origin(origin.ip, origin.user_agent)
                .detail("duration", duration),
        )
        .await;
    let req = RequestInfo {
        auth: caller.auth.clone(),
        ..RequestInfo::default()
    };
    let mut body = json!({"token": token, "record": record_json(&record, &req)});
    pick_fields(&mut body, ShapeParams::from_query(uri.query()).fields.as_deref());
    Ok(Json(body))
}
