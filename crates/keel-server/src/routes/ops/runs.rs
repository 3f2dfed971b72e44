//! Runs: launch, list, view, log by cursor, cancel, rerun, approve, reject.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::body::{read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::{Caller, ClientOrigin};
use crate::routes::records::params::ListQuery;
use crate::state::AppState;
use keel_app::authz::Permission;
use keel_app::ops::{may, runs};

async fn object(state: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<Value> {
    if headers
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v == "0")
    {
        return Ok(Value::Object(Default::default()));
    }
    read_object(state, headers, body, Limit::Small).await
}

#[utoipa::path(
    post, path = "/api/ops/runbooks/{id}/run", operation_id = "launchRun", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "The run, queued", body = crate::openapi::schemas::Object))
)]
pub(super) async fn launch(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    may(&caller, Permission::OpsRun)?;
    let input = object(&state, &headers, body).await?;
    let params = input.get("params").cloned().unwrap_or(Value::Null);
    Ok(Json(runs::launch(&state, &caller, &origin, &id, params).await?))
}

#[utoipa::path(
    get, path = "/api/ops/runs", operation_id = "listRuns", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery),
    responses((status = 200, description = "A page of runs, newest first", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
) -> ApiResult<Json<Value>> {
    may(&caller, Permission::OpsRead)?;
    let ListQuery(q) = query?;
    let p = q.params;
    Ok(Json(runs::list(&state, &caller, p.filter, p.page, p.per_page).await?))
}

#[utoipa::path(
    get, path = "/api/ops/runs/{id}", operation_id = "viewRun", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The run with its steps and approvals", body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(runs::view(&state, &caller, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct LogQuery {
    /// The cursor: pieces after this `seq` (0: from the start).
    #[serde(default)]
    after: i64,
    /// At most this many pieces (1–1000, default 500).
    limit: Option<u64>,
}

#[utoipa::path(
    get, path = "/api/ops/runs/{id}/log", operation_id = "runLog", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), params(LogQuery),
    responses((status = 200, description = "`{items, next, state}`: the log after the cursor", body = crate::openapi::schemas::Object))
)]
pub(super) async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        runs::log(&state, &caller, &id, q.after, q.limit.unwrap_or(500)).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/ops/runs/{id}/cancel", operation_id = "cancelRun", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The run, cancelled or cancelling", body = crate::openapi::schemas::Object))
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(runs::cancel(&state, &caller, &origin, &id).await?))
}

#[utoipa::path(
    post, path = "/api/ops/runs/{id}/rerun", operation_id = "rerunRun", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The new run, from the failed step", body = crate::openapi::schemas::Object))
)]
pub(super) async fn rerun(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(runs::rerun(&state, &caller, &origin, &id).await?))
}

async fn decide(
    state: AppState,
    caller: Caller,
    origin: keel_app::Origin,
    id: String,
    headers: HeaderMap,
    body: Body,
    approve: bool,
) -> ApiResult<Json<Value>> {
    may(&caller, Permission::OpsApprove)?;
    let input = object(&state, &headers, body).await?;
    let comment = input
        .get("comment")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(Json(
        runs::decide(&state, &caller, &origin, &id, approve, &comment).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/ops/runs/{id}/approve", operation_id = "approveRun", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "The run with the decisions so far", body = crate::openapi::schemas::Object))
)]
pub(super) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    decide(state, caller, origin, id, headers, body, true).await
}

#[utoipa::path(
    post, path = "/api/ops/runs/{id}/reject", operation_id = "rejectRun", tag = "ops",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "The run with the decisions so far", body = crate::openapi::schemas::Object))
)]
pub(super) async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    decide(state, caller, origin, id, headers, body, false).await
}
