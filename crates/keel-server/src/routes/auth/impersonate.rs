//! `POST /api/collections/{c}/impersonate/{id}` (superusers): a non-refreshable auth token
//! for any record, `{duration}` seconds long (0 = the collection's auth token duration);
//! audited (`keel_app::auth::session::impersonate`).

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use keel_app::serialize::{pick_fields, record_json};
use keel_data::RequestInfo;
use serde_json::{json, Map, Value};

use super::ShapeParams;
use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/impersonate/{id}", operation_id = "impersonate", tag = "auth",
    security(("authToken" = [])), params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::ImpersonateInput, responses((status = 200, body = crate::openapi::schemas::AuthResponse))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path((collection, id)): Path<(String, String)>,
    caller: Caller,
    uri: Uri,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let (token, record) =
        keel_app::auth::session::impersonate(&state, &caller, &collection, &id, form.get("duration"), &origin).await?;
    let req = RequestInfo {
        auth: caller.auth.clone(),
        ..RequestInfo::default()
    };
    let mut body = json!({"token": token, "record": record_json(&record, &req)});
    pick_fields(&mut body, ShapeParams::from_query(uri.query()).fields.as_deref());
    Ok(Json(body))
}
