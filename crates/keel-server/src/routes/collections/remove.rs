//! `DELETE /api/collections/{collection}` and `DELETE /api/collections/{collection}/truncate`:
//! drop a collection, or empty it; either way its files go too. System collections are
//! never dropped or truncated (the store refuses it); both are audited.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::schema_actor;
use crate::authz::{authorize, Permission};
use crate::error::ApiResult;
use crate::redact::collection_json;
use crate::request::Caller;
use crate::routes::roles::audit_entry;
use crate::state::AppState;

/// Deletes a collection, its table and its files.
#[utoipa::path(
    delete, path = "/api/collections/{collection}", operation_id = "deleteCollection", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted, with its records and files"))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    authorize(&caller, Permission::CollectionsManage)?;
    let deleted = state
        .store
        .delete_collection_by(&collection, schema_actor(&caller))
        .await?;
    delete_files(&state, &deleted.id).await;
    let entry = audit_entry(&caller, &headers, "collection.delete")
        .detail("collection", deleted.name.clone())
        .detail("collectionId", deleted.id.clone())
        .detail("before", collection_json(&deleted))
        .detail("after", Value::Null);
    state.identity.audit(entry).await;
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
    Path(collection): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    authorize(&caller, Permission::CollectionsManage)?;
    let col = state.store.collection(&collection)?;
    state.store.truncate_collection(&col.id).await?;
    delete_files(&state, &col.id).await;
    let entry = audit_entry(&caller, &headers, "collection.truncate")
        .detail("collection", col.name.clone())
        .detail("collectionId", col.id.clone());
    state.identity.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_files(state: &AppState, collection_id: &str) {
    if let Err(e) = state.files.delete_prefix(collection_id).await {
        tracing::warn!(collection_id, error = %e, "could not delete the files of a collection");
    }
}
