//! Push devices of the caller.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keel_app::notifications::devices::{self, DeviceInput, DeviceRef};
use serde_json::Value;

use super::row;
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/notifications/devices", operation_id = "addNotificationDevice", tag = "notifications",
    security(("authToken" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn add(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::notifications::Owner::of(&caller)?;
    let input: DeviceInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(row(&devices::add(&state, &caller, input).await?)))
}

#[utoipa::path(
    delete, path = "/api/notifications/devices", operation_id = "deleteNotificationDevice", tag = "notifications",
    security(("authToken" = [])), request_body = crate::openapi::schemas::Object, responses((status = 204))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    keel_app::notifications::Owner::of(&caller)?;
    let which: DeviceRef = read_object(&state, &headers, body, Limit::Small).await?;
    devices::delete(&state, &caller, which).await?;
    Ok(StatusCode::NO_CONTENT)
}
