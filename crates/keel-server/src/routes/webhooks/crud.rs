//! List, create, view, change and delete webhook endpoints (`keel_app::webhooks`).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::body::{read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::{Caller, ClientOrigin};
use crate::routes::records::params::ListQuery;
use crate::state::AppState;
use keel_app::webhooks;

/// An endpoint as submitted (every field optional on PATCH).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct WebhookInput {
    /// `http(s)://…`; must pass the outbound guard (`[outbound] allow` for internal addresses).
    url: String,
    /// `record.created|updated|deleted`, `job.completed|failed|dead`, `schedule.missed`,
    /// `webhook.disabled`, a group wildcard (`record.*`) or `*`.
    events: Vec<String>,
    /// The collection (name or id) of record events; required with them.
    collection: Option<String>,
    /// A rule-language filter on the record (`status = 'published'`).
    filter: Option<String>,
    /// Extra request headers (never `content-type` or `webhook-*`).
    headers: Option<BTreeMap<String, String>>,
    active: Option<bool>,
    description: Option<String>,
}

#[utoipa::path(
    get, path = "/api/webhooks", operation_id = "listWebhooks", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])), params(crate::openapi::params::ListQuery),
    responses((status = 200, description = "A page of endpoints", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ListQuery, ApiError>,
) -> ApiResult<Json<Value>> {
    webhooks::may_manage(&caller)?;
    let ListQuery(q) = query?;
    Ok(Json(
        webhooks::list(&state, &caller, q.params.page, q.params.per_page).await?,
    ))
}

#[utoipa::path(
    post, path = "/api/webhooks", operation_id = "createWebhook", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])), request_body = WebhookInput,
    responses((status = 200, description = "The endpoint, with its `secret` (shown once)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    webhooks::may_manage(&caller)?;
    let input: Value = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(webhooks::create(&state, &caller, &origin, input).await?))
}

#[utoipa::path(
    get, path = "/api/webhooks/{id}", operation_id = "viewWebhook", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The endpoint", body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(webhooks::view(&state, &caller, &id).await?))
}

#[utoipa::path(
    patch, path = "/api/webhooks/{id}", operation_id = "updateWebhook", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])), request_body = WebhookInput,
    responses((status = 200, description = "The endpoint, changed", body = crate::openapi::schemas::Object))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    webhooks::may_manage(&caller)?;
    let input: Value = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(webhooks::update(&state, &caller, &origin, &id, input).await?))
}

#[utoipa::path(
    delete, path = "/api/webhooks/{id}", operation_id = "deleteWebhook", tag = "webhooks",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    webhooks::delete(&state, &caller, &origin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
