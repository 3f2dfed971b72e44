//! `POST /api/collections` and `PATCH /api/collections/{collection}`: create and update
//! collections from PocketBase's JSON. Only superusers may touch system collections (the
//! store refuses a `collections:manage` holder: `SchemaActor`). Every change is audited
//! with the collection before and after, secrets masked.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{Map, Value};

use super::schema_actor;
use crate::authz::{authorize, Permission};
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::redact::collection_json;
use crate::request::Caller;
use crate::routes::roles::audit_entry;
use crate::state::AppState;

/// Creates a collection.
#[utoipa::path(
    post, path = "/api/collections", operation_id = "createCollection", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::CollectionInput, responses((status = 200, body = crate::openapi::schemas::Collection))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::CollectionsManage)?;
    let input: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    super::refuse_masked(&input)?;
    let collection = state
        .store
        .create_collection_by(Value::Object(input), schema_actor(&caller))
        .await?;
    let entry = audit_entry(&caller, &headers, "collection.create")
        .detail("collection", collection.name.clone())
        .detail("collectionId", collection.id.clone())
        .detail("before", Value::Null)
        .detail("after", collection_json(&collection));
    state.identity.audit(entry).await;
    Ok(Json(super::shown(&caller, &collection)))
}

/// Updates a collection (partial).
#[utoipa::path(
    patch, path = "/api/collections/{collection}", operation_id = "updateCollection", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::CollectionInput, responses((status = 200, body = crate::openapi::schemas::Collection))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::CollectionsManage)?;
    let patch: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    super::refuse_masked(&patch)?;
    let before = state.store.collection(&collection)?;
    let after = state
        .store
        .update_collection_by(&before.id, Value::Object(patch), schema_actor(&caller))
        .await?;
    let entry = audit_entry(&caller, &headers, "collection.update")
        .detail("collection", after.name.clone())
        .detail("collectionId", after.id.clone())
        .detail("before", collection_json(&before))
        .detail("after", collection_json(&after));
    state.identity.audit(entry).await;
    Ok(Json(super::shown(&caller, &after)))
}
