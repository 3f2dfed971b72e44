//! `GET /api/collections/{collection}/records/{id}`: one record, 404 when absent or hidden by
//! the view rule (`keel_app::records::view`).

use axum::extract::{Path, State};
use axum::http::header;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Map;

use super::params::Query;
use crate::error::ApiResult;
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
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let record = keel_app::records::view(&state, &collection, &id, q.expand(), &req).await?;
    if q.fields().is_none() {
        let body = serde_json::to_vec(&RecordOut {
            record: &record,
            req: &req,
        })
        .map_err(keel_core::Error::wrap)?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let mut out = record_json(&record, &req);
    pick_fields(&mut out, q.fields());
    Ok(Json(out).into_response())
}
