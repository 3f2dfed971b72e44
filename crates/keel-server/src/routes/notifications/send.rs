//! `POST /api/notifications/send`.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use keel_app::authz::{authorize, Permission};
use keel_app::notifications::{self, SendRequest};
use serde_json::Value;

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::routes::jobs::to_json;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/notifications/send", operation_id = "sendNotification", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "`{id, recipients, deliveries}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn send(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::NotificationsSend)?;
    let req: SendRequest = read_object(&state, &headers, body, Limit::Small).await?;
    let out = notifications::send(&state, &caller, req).await?;
    Ok(Json(to_json(&out)?))
}
