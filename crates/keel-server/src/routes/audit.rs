//! `GET /api/audit` (`audit:read`): the audit trail (`_audit`) as a PocketBase list, with
//! the records API's `page`, `perPage`, `sort` (default `-created`), `filter`, `skipTotal`
//! and `fields`, e.g. `filter=event='auth.login' && success=false`.

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use keel_data::Access;
use serde_json::{Map, Value};

use crate::error::ApiResult;
use crate::request::{request_info, Caller};
use crate::routes::records::params::{list_json, Query};
use crate::state::AppState;
use keel_app::authz::{authorize, Permission};
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
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::AuditRead)?;
    let collection = state.store.collection(keel_data::system::AUDIT)?;
    let q = Query::from_uri(&uri);
    let mut params = q.list_params()?;
    if params.sort.is_none() {
        params.sort = Some("-created".into());
    }
    // The caller's own request context: the trail is open to them, but a filter still may not
    // reach hidden fields (of `@collection.*` joins) unless they are a superuser.
    let req = request_info(&caller, &method, &uri, &headers, Map::new());
    let page = state
        .store
        .list_records(&collection, &params, &req, Access::Superuser)
        .await?;
    let items = page.items.iter().map(|r| record_json(r, &req)).collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, q.fields());
    Ok(Json(out))
}
