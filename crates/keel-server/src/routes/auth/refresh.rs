//! `POST /api/collections/{c}/auth-refresh`: a valid auth token of that collection gets a
//! new token and its current record (`keel_app::auth::session::refresh`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use serde_json::{Map, Value};

use super::ShapeParams;
use crate::error::ApiResult;
use crate::request::{bearer, request_info, Caller, ClientOrigin};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-refresh", operation_id = "authRefresh", tag = "auth",
    security(("authToken" = [])), params(crate::openapi::params::RecordQuery), responses((status = 200, body = crate::openapi::schemas::AuthResponse))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    caller: Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let req = request_info(&caller, &method, &uri, headers.clone(), Map::new());
    let signed = keel_app::auth::session::refresh(&state, &caller, &collection, bearer(&headers), req, &origin).await?;
    super::signed_json(&state, signed, &ShapeParams::from_query(uri.query())).await
}
