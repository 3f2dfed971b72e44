//! `POST /api/collections` and `PATCH /api/collections/{collection}`: create and update
//! collections from PocketBase's JSON (`keel_app::collections` holds the rules and the audit).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use keel_app::collections;
use serde_json::{Map, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;

/// Creates a collection.
#[utoipa::path(
    post, path = "/api/collections", operation_id = "createCollection", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::CollectionInput, responses((status = 200, body = crate::openapi::schemas::Collection))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::authz::authorize(&caller, keel_app::authz::Permission::CollectionsManage)?;
    let input: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    let collection = collections::create(&state, &caller, &origin, input).await?;
    Ok(Json(collections::shown(&caller, &collection)))
}

/// Updates a collection (partial).
#[utoipa::path(
    patch, path = "/api/collections/{collection}", operation_id = "updateCollection", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::CollectionInput, responses((status = 200, body = crate::openapi::schemas::Collection))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::authz::authorize(&caller, keel_app::authz::Permission::CollectionsManage)?;
    let patch: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    let after = collections::update(&state, &caller, &origin, &collection, patch).await?;
    Ok(Json(collections::shown(&caller, &after)))
}
