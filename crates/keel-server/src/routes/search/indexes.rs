//! Free-standing search indexes (`keel_app::search::indexes`): settings, documents, search
//! with a filter and facets.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use serde_json::Value;

use crate::body::{read_json, read_object, Limit};
use crate::error::ApiResult;
use crate::request::{form_pairs, Caller};
use crate::routes::records::params::Query;
use crate::state::AppState;
use keel_app::search::indexes::{self, IndexSearch};

/// An index's settings as sent.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct IndexSettings {
    /// Text field → weight (1 to 10), e.g. `{"title": 3, "body": 1}`.
    fields: std::collections::BTreeMap<String, u32>,
    /// Stemming language (`english` by default; `simple` for none).
    language: Option<String>,
    /// Attributes a search may filter on and count facets of.
    filterable: Option<Vec<String>>,
}

#[utoipa::path(
    get, path = "/api/search/indexes", operation_id = "listSearchIndexes", tag = "search",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "`{items: [{name, fields, language, filterable}]}` (search:read)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(indexes::list(&state, &caller).await?))
}

#[utoipa::path(
    put, path = "/api/search/indexes/{name}", operation_id = "putSearchIndex", tag = "search",
    security(("authToken" = []), ("apiKey" = [])), request_body = IndexSettings,
    responses((status = 200, description = "The index's settings (search:manage); changed settings empty the index", body = crate::openapi::schemas::Object))
)]
pub(super) async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::authz::authorize(&caller, keel_app::authz::Permission::SearchManage)?;
    let input: Value = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(indexes::put(&state, &caller, &name, &input).await?))
}

#[utoipa::path(
    delete, path = "/api/search/indexes/{name}", operation_id = "deleteSearchIndex", tag = "search",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted (search:manage)"))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    indexes::delete(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/search/indexes/{name}", operation_id = "searchIndex", tag = "search",
    security(("authToken" = []), ("apiKey" = [])),
    params(
        ("q" = Option<String>, Query, description = "Keel's search syntax; blank: every document (by id)."),
        ("filter" = Option<String>, Query, description = "e.g. `category = 'books' && year >= 2020` (filterable attributes only)."),
        ("facets" = Option<String>, Query, description = "Filterable attributes to count values of, comma-separated."),
        ("page" = Option<u64>, Query, description = "1-based."),
        ("perPage" = Option<u64>, Query, description = "At most 1000; default 30.")
    ),
    responses((status = 200, description = "`{page, perPage, totalItems, totalPages, items: [{id, score, document}], facets}` (search:read)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let raw = uri.query().unwrap_or("");
    let params = Query::from_query_str(raw).list_params()?;
    let mut s = IndexSearch {
        page: params.page,
        per_page: params.per_page,
        ..Default::default()
    };
    for (k, v) in form_pairs(raw) {
        match k.as_str() {
            "q" => s.q = v,
            "filter" => s.filter = v,
            "facets" => s.facets = v,
            _ => {}
        }
    }
    Ok(Json(indexes::search(&state, &caller, &name, &s).await?))
}

#[utoipa::path(
    post, path = "/api/search/indexes/{name}/documents", operation_id = "addSearchDocuments", tag = "search",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "`{indexed: n}` (search:write): one document or an array of at most 1000, each with an `id`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn add_documents(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::authz::authorize(&caller, keel_app::authz::Permission::SearchWrite)?;
    let input: Value = read_json(&state, body, Limit::Upload).await?;
    Ok(Json(indexes::add_documents(&state, &caller, &name, &input).await?))
}

#[utoipa::path(
    delete, path = "/api/search/indexes/{name}/documents/{id}", operation_id = "deleteSearchDocument", tag = "search",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted, or was absent (search:write)"))
)]
pub(super) async fn delete_document(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    indexes::delete_document(&state, &caller, &name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
