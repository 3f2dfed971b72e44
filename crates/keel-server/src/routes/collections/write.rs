//! `POST /api/collections` and `PATCH /api/collections/{collection}`: create and update
//! collections from PocketBase's JSON.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{Map, Value};

use crate::authz::{authorize, Permission};
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

/// Creates a collection.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::CollectionsManage)?;
    let input: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    let collection = state.store.create_collection(Value::Object(input)).await?;
    Ok(Json(collection.public_json()))
}

/// Updates a collection (partial).
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::CollectionsManage)?;
    let patch: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    let collection = state.store.update_collection(&collection, Value::Object(patch)).await?;
    Ok(Json(collection.public_json()))
}
