//! `GET /api/collections/{collection}/records`: a page of records visible under the list rule
//! (`keel_app::records::list`).

use axum::extract::{Path, State};
use axum::http::header;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Map;

use super::params::{list_json, ListQuery};
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;
use keel_app::serialize::{pick_fields, record_json, RecordOut};

/// PocketBase's list shape.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListOut<'a> {
    page: u64,
    per_page: u64,
    total_items: i64,
    total_pages: i64,
    items: Vec<RecordOut<'a>>,
}

/// Lists records (`page`, `perPage`, `sort`, `filter`, `expand`, `fields`, `skipTotal`, and
/// Keel's full-text `search`: ranked by relevance unless `sort` is given; `fields` naming
/// `search.highlights` adds each item's `search.highlights`).
#[utoipa::path(
    get, path = "/api/collections/{collection}/records", operation_id = "listRecords", tag = "records",
    params(
        crate::openapi::params::ListQuery,
        ("search" = Option<String>, Query, description = "Keel's full-text search (docs/search.md): words in any order, \"phrases\", -excluded, the last word as a prefix, one typo in words of 5+ letters; ranked by relevance unless `sort` is given. `fields` naming `search.highlights` adds each item's highlights.")
    ),
    responses((status = 200, description = "A page of the records the list rule lets the caller see", body = crate::openapi::schemas::RecordList))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    query: Result<ListQuery, ApiError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let collection = super::load_collection(&state, &collection)?;
    let ListQuery(q) = query?;
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let page = keel_app::records::list(&state, &collection, &q, &req).await?;
    if q.fields.is_none() {
        // The common case: serialize straight from the records.
        let items: Vec<RecordOut<'_>> = page
            .items
            .iter()
            .map(|record| RecordOut { record, req: &req })
            .collect();
        // Sized for a typical record up front: growing from empty copied the body ~5 times.
        let mut body = Vec::with_capacity(128 + 256 * items.len());
        let out = ListOut {
            page: page.page,
            per_page: page.per_page,
            total_items: page.total_items,
            total_pages: page.total_pages,
            items,
        };
        serde_json::to_writer(&mut body, &out).map_err(keel_core::Error::wrap)?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let marks = keel_app::records::highlights(&state, &collection, &q, &page.items).await?;
    let items = page
        .items
        .iter()
        .map(|r| {
            let mut item = record_json(r, &req);
            if let (Some(m), Some(obj)) = (marks.get(r.id()), item.as_object_mut()) {
                obj.insert("search".into(), serde_json::json!({ "highlights": m }));
            }
            item
        })
        .collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, q.fields.as_deref());
    Ok(Json(out).into_response())
}
