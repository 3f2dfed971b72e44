//! The jobs API (`/api/queues`, `/api/jobs`): enqueue, claim and work jobs over HTTP, read
//! and administer them and their queues.
//!
//! - `POST /api/queues/{queue}/jobs` enqueue one job or a batch (`jobs:enqueue`);
//! - `GET /api/queues/{queue}/jobs?state=&page=&perPage=` list a queue's jobs (`jobs:read`);
//! - `POST /api/queues/{queue}/claim` lease jobs, long-polling up to `waitMs` (`jobs:work`);
//! - `POST /api/jobs/{id}/heartbeat|progress|complete|fail` with the claim's `lease`
//!   (`jobs:work`);
//! - `GET /api/jobs/{id}` (`jobs:read`); `POST /api/jobs/{id}/retry|cancel` (`jobs:admin`);
//! - `GET /api/queues` and `GET /api/queues/{queue}`: settings and counts (`jobs:read`);
//! - `PATCH /api/queues/{queue}`, `POST /api/queues/{queue}/pause|resume` (`jobs:admin`).
//!
//! Bodies are read by `crate::body`, so a malformed body, a wrong type or an unknown field
//! is a 400 naming the field in PocketBase's error shape (never axum's plain-text 422). Queue names match `[A-Za-z0-9_-]{1,64}`.

use axum::routing::{get, post};
use axum::Router;
use keel_core::Error;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

mod admin;
mod attempt;
mod claim;
mod enqueue;
mod get;
mod list;
mod queues;
mod settings;

/// The jobs and queues routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/queues", get(queues::list_queues))
        .route("/api/queues/{queue}", get(queues::get_queue).patch(settings::patch))
        .route("/api/queues/{queue}/jobs", get(list::list_jobs).post(enqueue::enqueue))
        .route("/api/queues/{queue}/claim", post(claim::claim))
        .route("/api/queues/{queue}/pause", post(settings::pause))
        .route("/api/queues/{queue}/resume", post(settings::resume))
        .route("/api/jobs/{id}", get(get::get_job))
        .route("/api/jobs/{id}/heartbeat", post(attempt::heartbeat))
        .route("/api/jobs/{id}/progress", post(attempt::progress))
        .route("/api/jobs/{id}/complete", post(attempt::complete))
        .route("/api/jobs/{id}/fail", post(attempt::fail))
        .route("/api/jobs/{id}/retry", post(admin::retry))
        .route("/api/jobs/{id}/cancel", post(admin::cancel))
}

/// `Some(s)` when `value` is a non-blank string, else a 400 naming `field` as required.
pub(crate) fn required(field: &str, value: Option<String>) -> ApiResult<String> {
    match value {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::field(
            field,
            "validation_required",
            format!("{field} is required."),
        )),
    }
}

/// Serializes an API value (a job, settings, counts) to JSON.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError(Error::wrap(e)))
}

/// Checks a queue name from the path: a 400 naming `queue` unless `[A-Za-z0-9_-]{1,64}`.
pub(crate) fn check_queue(queue: &str) -> ApiResult<()> {
    keel_core::queue::validate_queue_name(queue).map_err(ApiError)
}
