//! Operator actions on one job (`jobs:admin`), each answering with the job:
//!
//! - `POST /api/jobs/{id}/retry`: a failed, dead, cancelled or completed job goes back to
//!   waiting with a fresh set of attempts (its error history kept); 409 otherwise, or when
//!   another pending job of the queue holds its `uniqueKey`;
//! - `POST /api/jobs/{id}/cancel`: a waiting, delayed, active or failed job is cancelled (a
//!   running attempt's worker gets 409 on its next call); 409 when it already finished.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::to_json;
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::jobs;

#[utoipa::path(
    post, path = "/api/jobs/{id}/retry", operation_id = "retryJob", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Job))
)]
pub(super) async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let job = jobs::retry(&state, &caller, &id).await?;
    Ok(Json(to_json(&job)?))
}

#[utoipa::path(
    post, path = "/api/jobs/{id}/cancel", operation_id = "cancelJob", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Job))
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let job = jobs::cancel(&state, &caller, &id).await?;
    Ok(Json(to_json(&job)?))
}
