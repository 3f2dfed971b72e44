//! `PATCH /api/collections/{collection}/records/{id}`: updates a record (JSON or multipart,
//! with `field+`, `+field` and `field-` modifiers; `keel_app::records::update` holds the rules).

use axum::extract::{Path, Request, State};
use axum::Json;
use keel_app::records::{self, Write};
use serde_json::{Map, Value};

use super::input::read_submitted;
use super::params::Query;
use crate::body::Limit;
use crate::error::ApiResult;
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
    let mut req = request_info(&caller, &parts.method, &parts.uri, parts.headers.clone(), Map::new());
    records::access(&collection, Write::Update, &req)?;
    let submitted = read_submitted(&state, &parts.headers, body, Some(&collection), Limit::Document).await?;
    let record = records::update(&state, &collection, &id, submitted, &mut req).await?;
    let q = Query::from_uri(&parts.uri);
    Ok(Json(super::written_record_json(&state, record, &q, &req).await))
}
