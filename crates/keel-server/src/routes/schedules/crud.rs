//! Create, list, view, update and delete schedules.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keel_jobs::schedule::ScheduleInput;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::{read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::jobs::{guard, Op};
use keel_app::schedules;

#[utoipa::path(
    get, path = "/api/schedules", operation_id = "listSchedules", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let items = schedules::list(&state, &caller).await?;
    Ok(Json(json!({ "items": to_json(&items)? })))
}

#[utoipa::path(
    post, path = "/api/schedules", operation_id = "createSchedule", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::ScheduleInput, responses((status = 200, body = crate::openapi::schemas::Schedule))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    guard(&caller, Op::Admin, None)?;
    let input: ScheduleInput = read_object(&state, &headers, body, Limit::Document).await?;
    let schedule = schedules::create(&state, &caller, input).await?;
    Ok(Json(to_json(&schedule)?))
}

#[derive(Deserialize)]
pub(super) struct ViewQuery {
    next: Option<String>,
}

#[utoipa::path(
    get, path = "/api/schedules/{id}", operation_id = "viewSchedule", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), params(("next" = Option<u32>, Query, description = "How many next fire times to list (0-100, default 5)")), responses((status = 200, body = crate::openapi::schemas::Schedule))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ViewQuery>,
) -> ApiResult<Json<Value>> {
    guard(&caller, Op::Read, None)?;
    let next = match q.next.as_deref() {
        None => 5,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n <= 100 => n,
            _ => {
                return Err(ApiError::field(
                    "next",
                    "validation_out_of_range",
                    "next must be 0 to 100.",
                ))
            }
        },
    };
    let (schedule, upcoming) = schedules::view(&state, &caller, &id, next).await?;
    let mut out = to_json(&schedule)?;
    out["upcoming"] = to_json(&upcoming)?;
    Ok(Json(out))
}

#[utoipa::path(
    patch, path = "/api/schedules/{id}", operation_id = "updateSchedule", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::ScheduleInput, responses((status = 200, body = crate::openapi::schemas::Schedule))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    guard(&caller, Op::Admin, None)?;
    let input: ScheduleInput = read_object(&state, &headers, body, Limit::Document).await?;
    let schedule = schedules::update(&state, &caller, &id, input).await?;
    Ok(Json(to_json(&schedule)?))
}

#[utoipa::path(
    delete, path = "/api/schedules/{id}", operation_id = "deleteSchedule", tag = "schedules",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    schedules::delete(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
