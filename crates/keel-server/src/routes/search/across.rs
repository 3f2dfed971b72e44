//! `GET /api/search`: a search across collections (`keel_app::search::across`).

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use serde_json::{Map, Value};

use crate::error::ApiResult;
use crate::request::{form_pairs, request_info, Caller};
use crate::routes::records::params::{list_json, Query};
use crate::state::AppState;
use keel_app::search::AcrossQuery;
use keel_app::serialize::{pick_fields, record_json};

/// Records of several searchable collections ranked together (PocketBase's list shape; each
/// item carries its `collectionName`/`collectionId`). Each collection is searched under the
/// caller's list rule for it; one whose list rule is superusers-only contributes nothing.
#[utoipa::path(
    get, path = "/api/search", operation_id = "searchAcrossCollections", tag = "search",
    params(
        ("q" = String, Query, description = "Keel's search syntax (docs/search.md)."),
        ("collections" = String, Query, description = "Searchable collections, comma-separated (at most 10)."),
        ("page" = Option<u64>, Query, description = "1-based; page × perPage at most 10000."),
        ("perPage" = Option<u64>, Query, description = "Items per page (at most 1000; default 30)."),
        ("fields" = Option<String>, Query, description = "PocketBase's `fields`.")
    ),
    responses((status = 200, description = "A page of matching records from every collection named", body = crate::openapi::schemas::RecordList))
)]
pub(super) async fn across(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let raw = uri.query().unwrap_or("");
    let paging = Query::from_query_str(raw);
    let params = paging.list_params()?;
    let (mut q, mut collections) = (String::new(), String::new());
    for (k, v) in form_pairs(raw) {
        match k.as_str() {
            "q" => q = v,
            "collections" => collections = v,
            _ => {}
        }
    }
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let query = AcrossQuery {
        q,
        collections,
        page: params.page,
        per_page: params.per_page,
    };
    let page = keel_app::search::across(&state, &query, &req).await?;
    let items = page.items.iter().map(|r| record_json(r, &req)).collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, paging.fields());
    Ok(Json(out))
}
