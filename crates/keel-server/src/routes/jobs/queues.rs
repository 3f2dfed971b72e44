//! `GET /api/queues`: every queue used so far as `{"items": [{"name", "settings", "counts"}]}`;
//! `GET /api/queues/{queue}`: one queue (a queue never used has the default settings and zero
//! counts). `counts` holds the jobs by state and `completedLastMinute` / `failedLastMinute`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::to_json;
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::jobs;

#[utoipa::path(
    get, path = "/api/queues", operation_id = "listQueues", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list_queues(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let queues = jobs::queues(&state, &caller).await?;
    Ok(Json(json!({ "items": to_json(&queues)? })))
}

#[utoipa::path(
    get, path = "/api/queues/{queue}", operation_id = "getQueue", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Queue))
)]
pub(super) async fn get_queue(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(&jobs::queue(&state, &caller, &queue).await?)?))
}
