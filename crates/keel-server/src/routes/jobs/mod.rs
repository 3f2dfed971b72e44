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
//! - `GET /api/queues/{queue}/throughput?minutes=`: completions and failures per minute
//!   (`jobs:read`);
//! - `PATCH /api/queues/{queue}`, `POST /api/queues/{queue}/pause|resume` (`jobs:admin`).
//!
//! Bodies are read by `crate::body`, so a malformed body, a wrong type or an unknown field
//! is a 400 naming the field in PocketBase's error shape (never axum's plain-text 422). Who
//! may do what, queue names and the limits of a batch or a claim are [`keel_app::jobs`]'s.

use keel_core::Error;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod admin;
mod attempt;
mod claim;
mod enqueue;
mod get;
mod list;
mod queues;
mod settings;
mod throughput;

/// The jobs and queues routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queues::list_queues))
        .routes(routes!(queues::get_queue, settings::patch))
        .routes(routes!(throughput::throughput))
        .routes(routes!(list::list_jobs, enqueue::enqueue))
        .routes(routes!(claim::claim))
        .routes(routes!(settings::pause))
        .routes(routes!(settings::resume))
        .routes(routes!(get::get_job))
        .routes(routes!(attempt::heartbeat))
        .routes(routes!(attempt::progress))
        .routes(routes!(attempt::complete))
        .routes(routes!(attempt::fail))
        .routes(routes!(admin::retry))
        .routes(routes!(admin::cancel))
}

/// Serializes an API value (a job, settings, counts) to JSON.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError(Error::wrap(e)))
}
