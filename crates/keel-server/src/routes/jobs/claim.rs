//! `POST /api/queues/{queue}/claim` with `{"max": 1..100, "waitMs": 0..60000, "worker": "…"}`
//! (all optional; defaults 1, 0, none): leases up to `max` due jobs, highest priority first,
//! waiting up to `waitMs` for the first one (long-poll). Answers `{"items": [job + "lease"]}`,
//! empty when nothing came (or the queue is paused or at its concurrency or rate limit).
//!
//! Each job must then be heartbeaten within its `timeoutMs`, and completed or failed with the
//! `lease`; otherwise the attempt times out and the job is retried.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use keel_jobs::ClaimOptions;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_queue, to_json};
use crate::body::{read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use keel_app::authz::{authorize_queue_work, Permission};

/// The most jobs one claim returns.
const MAX_CLAIM: i64 = 100;
/// The longest a claim may wait, in milliseconds.
const MAX_WAIT_MS: i64 = 60_000;

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
    check_queue(&queue)?;
    authorize_queue_work(&caller, Permission::JobsWork, &queue)?;
    let body: ClaimBody = read_object(&state, &headers, body, Limit::Small).await?;
    let max = body.max.unwrap_or(1);
    if !(1..=MAX_CLAIM).contains(&max) {
        return Err(ApiError::field(
            "max",
            "validation_out_of_range",
            format!("max must be between 1 and {MAX_CLAIM}."),
        ));
    }
    let wait_ms = body.wait_ms.unwrap_or(0);
    if !(0..=MAX_WAIT_MS).contains(&wait_ms) {
        return Err(ApiError::field(
            "waitMs",
            "validation_out_of_range",
            format!("waitMs must be between 0 and {MAX_WAIT_MS}."),
        ));
    }
    let opts = ClaimOptions {
        max: max as usize,
        worker: body.worker.filter(|w| !w.is_empty()),
    };
    let wait = Duration::from_millis(wait_ms as u64);
    let claimed = state.jobs.claim(&queue, &opts, wait).await?;
    Ok(Json(json!({ "items": to_json(&claimed)? })))
}
