//! `GET /api/collections/{c}/auth-methods`: which ways of signing in a collection offers
//! (`keel_app::auth::methods`), picked by `fields`.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use serde_json::Value;

use super::ShapeParams;
use crate::error::ApiResult;
use crate::state::AppState;
use keel_app::serialize::pick_fields;

#[utoipa::path(
    get, path = "/api/collections/{collection}/auth-methods", operation_id = "authMethods", tag = "auth",
    responses((status = 200, body = crate::openapi::auth::AuthMethods))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let mut body = keel_app::auth::methods::methods(&state, &collection).await?;
    pick_fields(&mut body, ShapeParams::from_query(uri.query()).fields.as_deref());
    Ok(Json(body))
}
