//! Rotate an endpoint's secret, list its deliveries, redeliver one, send a test event
//! (`keel_app::webhooks`).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::request::{Caller, ClientOrigin};
use crate::routes::records::params::ListQuery;
use crate::state::AppState;
use keel_app::webhooks;

#[utoipa::path(
    post, path = "/api/webhooks/{id}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The endpoint with its new `secret` (shown once); the previous one signs too until `previousSecretUntil`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(webhooks::rotate(&state, &caller, &origin, &id).await?))
}

#[utoipa::path(
    get, path = "/api/webhooks/{id}/deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery),
    responses((status = 200, description = "A page of delivery attempts, newest first", body = crate::openapi::schemas::Object))
)]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<ListQuery, ApiError>,
) -> ApiResult<Json<Value>> {
    webhooks::may_manage(&caller)?;
    let ListQuery(q) = query?;
    Ok(Json(
        webhooks::deliveries(&state, &caller, &id, q.params.page, q.params.per_page).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/webhooks/{id}/deliveries/{deliveryId}/redeliver", operation_id = "redeliverWebhook", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "`{messageId, jobId}`: the message is sent again, with the same `webhook-id`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path((id, delivery_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        webhooks::redeliver(&state, &caller, &origin, &id, &delivery_id).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/webhooks/{id}/test", operation_id = "testWebhook", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The attempt: `{id, messageId, status, httpStatus, durationMs, response, error}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn test(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(webhooks::test(&state, &caller, &origin, &id).await?))
}
