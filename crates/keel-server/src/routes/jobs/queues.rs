//! `GET /api/queues`: every queue used so far as `{"items": [{"name", "settings", "counts"}]}`;
//! `GET /api/queues/{queue}`: one queue (a queue never used has the default settings and zero
//! counts). `counts` holds the jobs by state and `completedLastMinute` / `failedLastMinute`.

use axum::extract::{Path, State};
use axum::Json;
use keel_jobs::QueueSettings;
use serde_json::{json, Value};

use super::{check_queue, to_json};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::authz::{authorize, Permission};

#[utoipa::path(
    get, path = "/api/queues", operation_id = "listQueues", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list_queues(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::JobsRead)?;
    let queues = state.jobs.store().queues().await?;
    let mut items = Vec::with_capacity(queues.len());
    for (name, settings) in queues {
        items.push(queue_json(&state, name, &settings).await?);
    }
    Ok(Json(json!({ "items": items })))
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
    authorize(&caller, Permission::JobsRead)?;
    check_queue(&queue)?;
    let settings = state.jobs.store().settings(&queue).await?;
    Ok(Json(queue_json(&state, queue, &settings).await?))
}

async fn queue_json(state: &AppState, name: String, settings: &QueueSettings) -> ApiResult<Value> {
    let counts = state.jobs.store().counts(&name).await?;
    Ok(json!({
        "name": name,
        "settings": to_json(settings)?,
        "counts": to_json(&counts)?,
    }))
}
