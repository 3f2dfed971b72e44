//! Preferences: the caller's own, or a user's (`notifications:manage`; `?collection=`,
//! default `users`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use keel_app::notifications::prefs::{self, PrefsInput};
use keel_app::notifications::{user_owner, Owner};
use serde::Deserialize;
use serde_json::Value;

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct Which {
    collection: Option<String>,
}

async fn owner_of(state: &AppState, caller: &Caller, user: &str, which: &Which) -> ApiResult<Owner> {
    keel_app::authz::authorize(caller, keel_app::authz::Permission::NotificationsManage)?;
    let (c, r) = user_owner(state, which.collection.as_deref(), user, "userId").await?;
    Ok(Owner {
        collection: c.id.clone(),
        record: r.id().to_string(),
    })
}

#[utoipa::path(
    get, path = "/api/notifications/preferences", operation_id = "viewOwnNotificationPreferences", tag = "notifications",
    security(("authToken" = [])), responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn view_own(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let owner = Owner::of(&caller)?;
    Ok(Json(prefs::view(&state, &caller, &owner).await?))
}

#[utoipa::path(
    patch, path = "/api/notifications/preferences", operation_id = "updateOwnNotificationPreferences", tag = "notifications",
    security(("authToken" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn update_own(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let owner = Owner::of(&caller)?;
    let input: PrefsInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(prefs::update(&state, &caller, &owner, input).await?))
}

#[utoipa::path(
    get, path = "/api/notifications/preferences/{userId}", operation_id = "viewNotificationPreferences", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(which): Query<Which>,
) -> ApiResult<Json<Value>> {
    let owner = owner_of(&state, &caller, &user, &which).await?;
    Ok(Json(prefs::view(&state, &caller, &owner).await?))
}

#[utoipa::path(
    patch, path = "/api/notifications/preferences/{userId}", operation_id = "updateNotificationPreferences", tag = "notifications",
    security(("authToken" = []), ("apiKey" = [])), request_body = crate::openapi::schemas::Object,
    responses((status = 200, body = crate::openapi::schemas::Object))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(which): Query<Which>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let owner = owner_of(&state, &caller, &user, &which).await?;
    let input: PrefsInput = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(prefs::update(&state, &caller, &owner, input).await?))
}
