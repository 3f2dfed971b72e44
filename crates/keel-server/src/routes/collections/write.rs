//! `POST /api/collections` and `PATCH /api/collections/{collection}`: create and update
//! collections from PocketBase's JSON.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::authz::{authorize, Permission};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::routes::records::input::parse_json_object;
use crate::state::AppState;

/// Creates a collection.
pub async fn create(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::CollectionsManage)?;
    let input = parse_json_object(&body)?;
    let collection = state.store.create_collection(Value::Object(input)).await?;
    Ok(Json(collection.public_json()))
}

/// Updates a collection (partial).
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::CollectionsManage)?;
    let patch = parse_json_object(&body)?;
    let collection = state.store.update_collection(&collection, Value::Object(patch)).await?;
    Ok(Json(collection.public_json()))
}
