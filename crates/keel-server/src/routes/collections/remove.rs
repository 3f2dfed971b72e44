//! `DELETE /api/collections/{collection}` and `DELETE /api/collections/{collection}/truncate`:
//! drop a collection, or empty it; either way its files go too.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::authz::{authorize, Permission};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

/// Deletes a collection, its table and its files.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&caller, Permission::CollectionsManage)?;
    let deleted = state.store.delete_collection(&collection).await?;
    delete_files(&state, &deleted.id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every record of a collection and their files.
pub async fn truncate(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&caller, Permission::CollectionsManage)?;
    let col = state.store.collection(&collection)?;
    state.store.truncate_collection(&col.id).await?;
    delete_files(&state, &col.id).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_files(state: &AppState, collection_id: &str) {
    if let Err(e) = state.files.delete_prefix(collection_id).await {
        tracing::warn!(collection_id, error = %e, "could not delete the files of a collection");
    }
}
