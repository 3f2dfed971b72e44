//! `PATCH /api/collections/{collection}/records/{id}`: updates a record (JSON or multipart,
//! with `field+`, `+field` and `field-` modifiers); files the record no longer references
//! are deleted after the commit.

use axum::extract::{Path, Request, State};
use axum::Json;
use keel_data::Access;
use serde_json::{Map, Value};

use super::input::read_submitted;
use super::params::Query;
use super::uploads::{cleanup_after_update, delete_pending, write_all};
use super::write::prepare_update;
use crate::body::Limit;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;

/// Updates a record; 404 when absent or hidden by the update rule.
#[utoipa::path(
    patch, path = "/api/collections/{collection}/records/{id}", operation_id = "updateRecord", tag = "records",
    params(crate::openapi::params::RecordQuery), request_body(description = "The collection's fields", content((crate::openapi::schemas::RecordInput = "application/json"), (crate::openapi::schemas::RecordInput = "multipart/form-data"))), responses((status = 200, body = crate::openapi::schemas::Record))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((collection, id)): Path<(String, String)>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let collection = super::load_collection(&state, &collection)?;
    let (parts, body) = request.into_parts();
    let mut req = request_info(&caller, &parts.method, &parts.uri, &parts.headers, Map::new());
    let rule = collection.update_rule.clone();
    let access = Access::for_rule(&collection, &rule, &req).ok_or_else(ApiError::superusers_only)?;
    let submitted = read_submitted(&state, &parts.headers, body, Some(&collection), Limit::Document).await?;
    req.body = submitted.data.clone();
    // The record as the update rule lets this caller see it: 404 before anything is checked.
    let current = state.store.get_record(&collection, &id, &req, access).await?;
    let prepared = prepare_update(&state, &collection, &current, submitted, &req).await?;
    req.body = prepared.body;
    write_all(state.files.as_ref(), &prepared.pending).await?;
    let (before, after) = match state
        .store
        .update_record(&collection, &id, prepared.data, &req, access)
        .await
    {
        Ok(pair) => pair,
        Err(e) => {
            delete_pending(state.files.as_ref(), &prepared.pending).await;
            return Err(e.into());
        }
    };
    cleanup_after_update(state.files.as_ref(), &before, &after, &prepared.pending).await;
    let q = Query::from_uri(&parts.uri);
    Ok(Json(super::written_record_json(&state, after, &q, &req).await))
}
