//! A queue's settings (`jobs:admin`), each answering with the queue's settings:
//!
//! - `PATCH /api/queues/{queue}` with any of `paused`, `concurrency`, `rateLimit`
//!   (`{"max", "intervalMs"}`), `pushUrl`, `keepCompleted` / `keepDead`
//!   (`{"count", "ageSecs"}`); absent fields keep their value, `null` clears an optional one;
//! - `POST /api/queues/{queue}/pause` and `/resume`: no job of the queue is claimed while it
//!   is paused (running ones finish).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::Json;
use keel_jobs::QueueSettings;
use serde_json::{Map, Value};

use super::to_json;
use crate::body::{from_object, read_json, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use keel_app::jobs::{self, Op};

#[utoipa::path(
    patch, path = "/api/queues/{queue}", operation_id = "updateQueue", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), request_body(description = "Settings to change: `concurrency`, `rateLimit`, `pushUrl`, `keepCompleted`, `keepDead`", content = crate::openapi::schemas::Object), responses((status = 200, body = crate::openapi::schemas::QueueSettings))
)]
pub(super) async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Admin, Some(&queue))?;
    let Value::Object(patch) = read_json(&state, body, Limit::Small).await? else {
        return Err(ApiError::bad_request(
            "The body must be a JSON object of queue settings (paused, concurrency, rateLimit, pushUrl, \
             keepCompleted, keepDead).",
        ));
    };
    // The store names unknown settings; a known one with a value of the wrong type (or a
    // `null` for a setting that cannot be cleared) is named here, checked alone: every other
    // setting keeps its default.
    for (k, v) in &patch {
        let alone = Value::Object(Map::from_iter([(k.clone(), v.clone())]));
        from_object::<QueueSettings>(alone, "")?;
    }
    let settings = jobs::update_settings(&state, &caller, &queue, patch).await?;
    Ok(Json(to_json(&settings)?))
}

#[utoipa::path(
    post, path = "/api/queues/{queue}/pause", operation_id = "pauseQueue", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::QueueSettings))
)]
pub(super) async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
) -> ApiResult<Json<Value>> {
    set_paused(state, caller, queue, true).await
}

#[utoipa::path(
    post, path = "/api/queues/{queue}/resume", operation_id = "resumeQueue", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::QueueSettings))
)]
pub(super) async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
) -> ApiResult<Json<Value>> {
    set_paused(state, caller, queue, false).await
}

async fn set_paused(state: AppState, caller: Caller, queue: String, paused: bool) -> ApiResult<Json<Value>> {
    let settings = jobs::set_paused(&state, &caller, &queue, paused).await?;
    Ok(Json(to_json(&settings)?))
}
