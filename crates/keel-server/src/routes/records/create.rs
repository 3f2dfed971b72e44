//! `POST /api/collections/{collection}/records`: creates a record from JSON or multipart data
//! (`keel_app::records::create` holds the rules).

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
    let mut req = request_info(&caller, &parts.method, &parts.uri, parts.headers.clone(), Map::new());
    records::access(&collection, Write::Create, &req)?;
    let submitted = read_submitted(&state, &parts.headers, body, Some(&collection), Limit::Document).await?;
    let record = records::create(&state, &collection, submitted, &mut req).await?;
    let q = Query::from_uri(&parts.uri);
    Ok(Json(super::written_record_json(&state, record, &q, &req).await))
}
