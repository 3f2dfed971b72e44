//! `GET /api/jobs/{id}`: the job, or 404.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::to_json;
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::jobs;

#[utoipa::path(
    get, path = "/api/jobs/{id}", operation_id = "getJob", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Job))
)]
pub(super) async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(&jobs::get(&state, &caller, &id).await?)?))
}
