//! Topics and their subscribers.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keel_app::notifications::topics::{self, SubscriberInput, TopicInput};
use serde_json::{json, Value};

use super::{items, row};
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/notifications/topics", operation_id = "listNotificationTopics", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(items(&topics::list(&state, &caller).await?)))
}

#[utoipa::path(
    post, path = "/api/notifications/topics", operation_id = "createNotificationTopic", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::authz::authorize(&caller, keel_app::authz::Permission::NotificationsManage)?;
    let input: TopicInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(row(&topics::create(&state, &caller, input).await?)))
}

#[utoipa::path(
    delete, path = "/api/notifications/topics/{name}", operation_id = "deleteNotificationTopic", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    topics::delete(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/notifications/topics/{name}/subscribers", operation_id = "subscribeNotificationTopic", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "`{topic, collectionRef, recordRef}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let input: SubscriberInput = read_object(&state, &headers, body, Limit::Small).await?;
    let o = topics::subscribe(&state, &caller, &name, input).await?;
    Ok(Json(
        json!({"topic": name, "collectionRef": o.collection, "recordRef": o.record, "subscribed": true}),
    ))
}

#[utoipa::path(
    delete, path = "/api/notifications/topics/{name}/subscribers", operation_id = "unsubscribeNotificationTopic", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, description = "`{topic, collectionRef, recordRef}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn unsubscribe(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let input: SubscriberInput = read_object(&state, &headers, body, Limit::Small).await?;
    let o = topics::unsubscribe(&state, &caller, &name, input).await?;
    Ok(Json(
        json!({"topic": name, "collectionRef": o.collection, "recordRef": o.record, "subscribed": false}),
    ))
}
