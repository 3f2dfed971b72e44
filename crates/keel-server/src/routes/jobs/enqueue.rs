//! `POST /api/queues/{queue}/jobs`: enqueues one job (a JSON object) or a batch (an array of
//! at most 1000, all or none). One job answers with the job and `"created"`; a batch with
//! `{"items": [...]}` in the same order. `created` is `false` when a pending job of the queue
//! already held the `uniqueKey`: that job is returned instead of a new one.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::Json;
use keel_jobs::store::Enqueued;
use keel_jobs::NewJob;
use serde_json::{json, Value};

use super::to_json;
use crate::body::{from_object, read_bytes, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use keel_app::jobs::{self, Op};

#[utoipa::path(
    post, path = "/api/queues/{queue}/jobs", operation_id = "enqueue", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Enqueue, responses((status = 200, body = crate::openapi::schemas::Enqueued))
)]
pub(super) async fn enqueue(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Enqueue, Some(&queue))?;
    let not_a_job = || ApiError::bad_request("The body must be a job object or an array of job objects.");
    let bytes = read_bytes(&state, body, Limit::Document).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(not_a_job());
    }
    match crate::body::decode_json::<Value>(&state.config, &bytes)? {
        one @ Value::Object(_) => {
            let job: NewJob = from_object(one, "")?;
            let mut out = jobs::enqueue(&state, &caller, &queue, vec![job]).await?;
            let first = out
                .pop()
                .ok_or_else(|| ApiError(keel_core::Error::internal("enqueue returned no job")))?;
            Ok(Json(job_json(&first)?))
        }
        Value::Array(items) => {
            jobs::check_batch(items.len())?;
            let many = items.len() > 1;
            let mut batch = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let prefix = if many { format!("{i}.") } else { String::new() };
                if !item.is_object() {
                    return Err(ApiError::bad_request(format!(
                        "Item {i} of the batch is not a job object."
                    )));
                }
                batch.push(from_object::<NewJob>(item, &prefix)?);
            }
            let out = jobs::enqueue(&state, &caller, &queue, batch).await?;
            let items = out.iter().map(job_json).collect::<ApiResult<Vec<_>>>()?;
            Ok(Json(json!({ "items": items })))
        }
        _ => Err(not_a_job()),
    }
}

/// The job's JSON with `"created"`.
fn job_json(e: &Enqueued) -> ApiResult<Value> {
    let mut v = to_json(&e.job)?;
    if let Value::Object(m) = &mut v {
        m.insert("created".into(), Value::Bool(e.created));
    }
    Ok(v)
}
