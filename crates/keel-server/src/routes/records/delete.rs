//! `DELETE /api/collections/{collection}/records/{id}`: deletes a record (cascading) and the
//! files of every deleted record (`keel_app::records::delete`); 204.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Map;

use crate::error::ApiResult;
use crate::request::{request_info, Caller};
use crate::state::AppState;

/// Deletes one record; 404 when absent or hidden by the delete rule.
#[utoipa::path(
    delete, path = "/api/collections/{collection}/records/{id}", operation_id = "deleteRecord", tag = "records",
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((collection, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let collection = super::load_collection(&state, &collection)?;
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    keel_app::records::delete(&state, &collection, &id, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}
