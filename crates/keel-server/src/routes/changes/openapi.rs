//! `GET /api/collections/{collection}/openapi.json`: the collection's records API as an
//! OpenAPI 3.1 document (keel_app::changes::collection_api), the document every collection
//! change is diffed on (`apiFindings`).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::changes::collection_api;

#[utoipa::path(
    get, path = "/api/collections/{collection}/openapi.json", operation_id = "collectionOpenApi", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The collection's records API (list, view, create, update, delete; an auth collection's sign-in paths) as an OpenAPI 3.1 document; needs collections:read or changes:read", body = crate::openapi::schemas::Object))
)]
pub(super) async fn document(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(collection_api::for_caller(&state, &caller, &collection)?))
}
