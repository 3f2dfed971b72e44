//! `DELETE /api/collections/{collection}` and `DELETE /api/collections/{collection}/truncate`:
//! drop a collection, or empty it (`keel_app::collections` holds the rules and the audit).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_app::collections;

use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;

/// Deletes a collection, its table and its files.
#[utoipa::path(
    delete, path = "/api/collections/{collection}", operation_id = "deleteCollection", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted, with its records and files"))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
) -> ApiResult<StatusCode> {
    collections::delete(&state, &caller, &origin, &collection).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every record of a collection and their files.
#[utoipa::path(
    delete, path = "/api/collections/{collection}/truncate", operation_id = "truncateCollection", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Every record deleted"))
)]
pub async fn truncate(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
) -> ApiResult<StatusCode> {
    collections::truncate(&state, &caller, &origin, &collection).await?;
    Ok(StatusCode::NO_CONTENT)
}
