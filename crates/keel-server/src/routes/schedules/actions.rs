//! Pause, resume and trigger a schedule; read its run history.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::jobs::{guard, Op};
use keel_app::schedules;

#[utoipa::path(
    post, path = "/api/schedules/{id}/pause", operation_id = "pauseSchedule", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Schedule))
)]
pub(super) async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(
        &schedules::set_paused(&state, &caller, &id, true).await?,
    )?))
}

#[utoipa::path(
    post, path = "/api/schedules/{id}/resume", operation_id = "resumeSchedule", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Schedule))
)]
pub(super) async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(
        &schedules::set_paused(&state, &caller, &id, false).await?,
    )?))
}

/// Enqueues the schedule's job now; answers with the job.
#[utoipa::path(
    post, path = "/api/schedules/{id}/trigger", operation_id = "triggerSchedule", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "The enqueued job", body = crate::openapi::schemas::Job))
)]
pub(super) async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let job = schedules::trigger(&state, &caller, &id).await?;
    Ok(Json(to_json(&job)?))
}

#[derive(Deserialize)]
pub(super) struct RunsQuery {
    limit: Option<String>,
}

#[utoipa::path(
    get, path = "/api/schedules/{id}/runs", operation_id = "scheduleRuns", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), params(("limit" = Option<u32>, Query, description = "1-1000, default 50")), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<Value>> {
    guard(&caller, Op::Read, None)?;
    let limit = match q.limit.as_deref() {
        None => 50,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    "validation_out_of_range",
                    "limit must be 1 to 1000.",
                ))
            }
        },
    };
    let runs = schedules::runs(&state, &caller, &id, limit).await?;
    Ok(Json(json!({ "items": to_json(&runs)? })))
}
