//! `GET /api/audit` (`audit:read`): the audit trail (`_audit`) as a PocketBase list, with
//! the records API's `page`, `perPage`, `sort` (default `-created`), `filter`, `skipTotal`
//! and `fields`, e.g. `filter=event='auth.login' && success=false`.

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::routes::records::params::{list_json, ListQuery};
use crate::state::AppState;
use keel_app::serialize::{pick_fields, record_json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The audit route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[utoipa::path(
    get, path = "/api/audit", operation_id = "listAudit", tag = "audit",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery), responses((status = 200, description = "A page of `_audit` records", body = crate::openapi::schemas::RecordList))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    keel_app::audit::may_read(&caller)?;
    let ListQuery(q) = query?;
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let page = keel_app::audit::list(&state, &caller, &q.params, &req).await?;
    let items = page.items.iter().map(|r| record_json(r, &req)).collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, q.fields.as_deref());
    Ok(Json(out))
}
