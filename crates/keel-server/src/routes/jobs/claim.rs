//! `POST /api/queues/{queue}/claim` with `{"max": 1..100, "waitMs": 0..60000, "worker": "…"}`
//! (all optional; defaults 1, 0, none): leases up to `max` due jobs, highest priority first,
//! waiting up to `waitMs` for the first one (long-poll). Answers `{"items": [job + "lease"]}`,
//! empty when nothing came (or the queue is paused or at its concurrency or rate limit).
//!
//! Each job must then be heartbeaten within its `timeoutMs`, and completed or failed with the
//! `lease`; otherwise the attempt times out and the job is retried.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::to_json;
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::jobs::{self, Op};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClaimBody {
    #[serde(default)]
    max: Option<i64>,
    #[serde(default)]
    wait_ms: Option<i64>,
    #[serde(default)]
    worker: Option<String>,
}

#[utoipa::path(
    post, path = "/api/queues/{queue}/claim", operation_id = "claimJobs", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), request_body = ClaimBody, responses((status = 200, description = "`{items: [Job + lease]}`", body = crate::openapi::schemas::Items))
)]
pub(super) async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Work, Some(&queue))?;
    let body: ClaimBody = read_object(&state, &headers, body, Limit::Small).await?;
    let claimed = jobs::claim(&state, &caller, &queue, body.max, body.wait_ms, body.worker).await?;
    Ok(Json(json!({ "items": to_json(&claimed)? })))
}
