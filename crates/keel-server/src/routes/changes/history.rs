//! The change history: `GET /api/changes` (a page, PocketBase's `page`, `perPage`, `sort`
//! (default `-seq`, newest first), `filter`, `skipTotal`, `fields`),
//! `GET /api/changes/{id}` (with its `impact`, without callers) and
//! `GET /api/changes/{id}/impact` (with callers from `?days=` of request logs, 30 by default,
//! at most `logs.maxDays`), over keel_app::changes.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::routes::records::params::{list_json, ListQuery};
use crate::state::AppState;
use keel_app::changes::{history, impact};
use keel_app::serialize::pick_fields;
use serde::Deserialize;

#[utoipa::path(
    get, path = "/api/changes", operation_id = "listChanges", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery),
    responses((status = 200, description = "A page of recorded collection changes, newest first: `{id, seq, collectionRef, collection, kind, source, author, state, verdict, version, previousVersion, findings, diff, before, after, created}`", body = crate::openapi::schemas::RecordList))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    history::may_read(&caller)?;
    let ListQuery(q) = query?;
    let req = request_info(&caller, &method, &uri, headers, Map::new());
    let page = history::list(&state, &caller, &q.params, &req).await?;
    let items = page.items.iter().map(|r| history::change_json(&r.data)).collect();
    let mut out = list_json(page.page, page.per_page, page.total_items, page.total_pages, items);
    pick_fields(&mut out, q.fields.as_deref());
    Ok(Json(out))
}

/// The request logs an impact's callers are read from.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct ImpactQuery {
    /// Days of request logs to find the callers in (1–365, default 30; at most the
    /// `logs.maxDays` the logs keep).
    days: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/changes/{id}", operation_id = "viewChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "One recorded change or proposal, with `impact`: `{items: [{kind, name, detail, message, collection?, touches}], notes}` computed now, without callers (`GET /api/changes/{id}/impact` lists them)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = history::view(&state, &caller, &id).await?;
    Ok(Json(impact::change_with_impact(&state, &caller, &r.data).await?))
}

#[utoipa::path(
    get, path = "/api/changes/{id}/impact", operation_id = "changeImpact", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), params(ImpactQuery),
    responses((status = 200, description = "What depends on what the change touches: `{items: [{kind: rule|relation|view|index|webhook|notification-rule|runbook|caller, name, detail, message, collection?, touches, requests?, lastSeen?}], notes, days?}` (`days`: the days of request logs looked at for callers, at most `logs.maxDays`)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn view_impact(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<ImpactQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<impact::Impact>> {
    // Who may ask comes before what they asked: an anonymous caller gets 401, not 400.
    history::may_read(&caller)?;
    let days = impact::days(days_of(query)?)?;
    Ok(Json(impact::of_id(&state, &caller, &id, days).await?))
}

/// `days` of the query, a 400 naming it when it is not a number.
fn days_of(
    query: Result<Query<ImpactQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Option<i64>, ApiError> {
    match query {
        Ok(Query(q)) => Ok(q.days),
        Err(_) => Err(keel_core::Error::field(
            "days",
            "validation_invalid_value",
            "Give a number of days of request logs from 1 to 365.",
        )
        .into()),
    }
}
