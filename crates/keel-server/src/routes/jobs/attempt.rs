//! A worker's calls on a job it claimed, each carrying the claim's `lease`, each answering
//! with the job:
//!
//! - `POST /api/jobs/{id}/heartbeat` `{"lease"}`: extends the lease by the job's `timeoutMs`;
//! - `POST /api/jobs/{id}/progress` `{"lease", "percent": 0..100, "message"?}`: records
//!   progress and extends the lease;
//! - `POST /api/jobs/{id}/complete` `{"lease", "result"?}`: the job is completed;
//! - `POST /api/jobs/{id}/fail` `{"lease", "error"?, "retry"?: true}`: the attempt failed; the
//!   job is retried after its backoff (`failed`), or is `dead` when out of attempts or
//!   `retry` is `false`.
//!
//! A missing `lease` is a 400; a lease no longer held (timed out, cancelled, claimed again)
//! is a 409: stop working on the job. An unknown job is a 404.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::to_json;
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::jobs::{self, Op};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HeartbeatBody {
    #[serde(default)]
    lease: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProgressBody {
    #[serde(default)]
    lease: Option<String>,
    #[serde(default)]
    percent: Option<f64>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    #[serde(default)]
    lease: Option<String>,
    #[serde(default)]
    result: Option<Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FailBody {
    #[serde(default)]
    lease: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    retry: Option<bool>,
}

#[utoipa::path(
    post, path = "/api/jobs/{id}/heartbeat", operation_id = "jobHeartbeat", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), request_body = HeartbeatBody, responses((status = 200, body = crate::openapi::schemas::Job), (status = 409, description = "The lease is no longer held: stop working on the job", body = crate::openapi::schemas::ErrorBody))
)]
pub(super) async fn heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Work, None)?;
    let body: HeartbeatBody = read_object(&state, &headers, body, Limit::Small).await?;
    let job = jobs::heartbeat(&state, &caller, &id, body.lease).await?;
    Ok(Json(to_json(&job)?))
}

#[utoipa::path(
    post, path = "/api/jobs/{id}/progress", operation_id = "jobProgress", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), request_body = ProgressBody, responses((status = 200, body = crate::openapi::schemas::Job), (status = 409, description = "The lease is no longer held: stop working on the job", body = crate::openapi::schemas::ErrorBody))
)]
pub(super) async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Work, None)?;
    let body: ProgressBody = read_object(&state, &headers, body, Limit::Small).await?;
    let job = jobs::progress(&state, &caller, &id, body.lease, body.percent, body.message).await?;
    Ok(Json(to_json(&job)?))
}

#[utoipa::path(
    post, path = "/api/jobs/{id}/complete", operation_id = "jobComplete", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), request_body = CompleteBody, responses((status = 200, body = crate::openapi::schemas::Job), (status = 409, description = "The lease is no longer held: stop working on the job", body = crate::openapi::schemas::ErrorBody))
)]
pub(super) async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Work, None)?;
    let body: CompleteBody = read_object(&state, &headers, body, Limit::Small).await?;
    let job = jobs::complete(&state, &caller, &id, body.lease, body.result.as_ref()).await?;
    Ok(Json(to_json(&job)?))
}

#[utoipa::path(
    post, path = "/api/jobs/{id}/fail", operation_id = "jobFail", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), request_body = FailBody, responses((status = 200, body = crate::openapi::schemas::Job), (status = 409, description = "The lease is no longer held: stop working on the job", body = crate::openapi::schemas::ErrorBody))
)]
pub(super) async fn fail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Work, None)?;
    let body: FailBody = read_object(&state, &headers, body, Limit::Small).await?;
    let job = jobs::fail(&state, &caller, &id, body.lease, body.error, body.retry).await?;
    Ok(Json(to_json(&job)?))
}
