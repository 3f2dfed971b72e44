//! `POST /api/collections/{collection}/records`: creates a record from JSON or multipart data.

use axum::extract::{Path, Request, State};
use axum::Json;
use keel_data::Access;
use serde_json::{Map, Value};

use super::input::read_submitted;
use super::params::Query;
use super::uploads::{delete_pending, write_all};
use super::write::prepare_create;
use crate::body::Limit;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;

/// Creates a record; 403 when the create rule is superusers-only, 400 on invalid data or a
/// failing create rule.
#[utoipa::path(
    post, path = "/api/collections/{collection}/records", operation_id = "createRecord", tag = "records",
    params(crate::openapi::params::RecordQuery), request_body(description = "The collection's fields", content((crate::openapi::schemas::RecordInput = "application/json"), (crate::openapi::schemas::RecordInput = "multipart/form-data"))), responses((status = 200, body = crate::openapi::schemas::Record))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let collection = super::load_collection(&state, &collection)?;
    let (parts, body) = request.into_parts();
    let mut req = request_info(&caller, &parts.method, &parts.uri, &parts.headers, Map::new());
    let access = Access::for_rule(&collection, &collection.create_rule, &req).ok_or_else(ApiError::superusers_only)?;
    let submitted = read_submitted(&state, &parts.headers, body, Some(&collection), Limit::Document).await?;
    let prepared = prepare_create(&collection, submitted, req.skips_rules(&collection))?;
    req.body = prepared.body;
    write_all(state.files.as_ref(), &prepared.pending).await?;
    let record = match state
        .store
        .create_record(&collection, prepared.data, &req, access)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            delete_pending(state.files.as_ref(), &prepared.pending).await;
            return Err(e.into());
        }
    };
    let q = Query::from_uri(&parts.uri);
    Ok(Json(super::written_record_json(&state, record, &q, &req).await))
}
