//! `GET /api/queues/{queue}/throughput?minutes=60`: the queue's completions and failures per
//! minute, oldest first, the current minute last, as `{"items": [{"minute", "completed",
//! "failed"}]}` (the console's chart of the last hour).

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use serde_json::{json, Value};

use super::to_json;
use crate::error::ApiResult;
use crate::request::{form_pairs, Caller};
use crate::state::AppState;
use keel_app::jobs;

#[utoipa::path(
    get, path = "/api/queues/{queue}/throughput", operation_id = "queueThroughput", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])),
    params(("minutes" = Option<u32>, Query, description = "how many minutes back, 1–1440 (default 60)")),
    responses((status = 200, description = "`{items: [{minute, completed, failed}]}`", body = crate::openapi::schemas::Items))
)]
pub(super) async fn throughput(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let mut minutes = 60;
    for (k, v) in form_pairs(uri.query().unwrap_or("")) {
        if k == "minutes" {
            minutes = super::list::parse_number("minutes", &v, jobs::MAX_THROUGHPUT_MINUTES)?;
        }
    }
    let items = jobs::throughput(&state, &caller, &queue, minutes).await?;
    Ok(Json(json!({ "items": to_json(&items)? })))
}
