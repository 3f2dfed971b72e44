//! `GET /api/collections/{collection}/records/{id}`: one record, 404 when absent or hidden by
//! the view rule.

use axum::extract::{Path, State};
use axum::http::header;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_data::Access;
use serde_json::Map;

use super::params::Query;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;
use keel_app::serialize::{pick_fields, record_json, RecordOut};

/// Views one record (`expand`, `fields`).
#[utoipa::path(
    get, path = "/api/collections/{collection}/records/{id}", operation_id = "viewRecord", tag = "records",
    params(crate::openapi::params::RecordQuery), responses((status = 200, body = crate::openapi::schemas::Record))
)]
pub async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path((collection, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let collection = super::load_collection(&state, &collection)?;
    let q = Query::from_uri(&uri);
    let req = request_info(&caller, &method, &uri, &headers, Map::new());
    let access = Access::for_rule(&collection, &collection.view_rule, &req).ok_or_else(ApiError::superusers_only)?;
    let record = state.store.get_record(&collection, &id, &req, access).await?;
    let mut records = [record];
    if let Some(expand) = q.expand() {
        state.store.expand(&mut records, expand, &req).await?;
    }
    if q.fields().is_none() {
        let body = serde_json::to_vec(&RecordOut {
            record: &records[0],
            req: &req,
        })
        .map_err(keel_core::Error::wrap)?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let mut out = record_json(&records[0], &req);
    pick_fields(&mut out, q.fields());
    Ok(Json(out).into_response())
}
