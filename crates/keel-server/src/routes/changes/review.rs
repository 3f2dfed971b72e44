//! Review of collection changes (`keel_app::changes::review`): `POST /api/changes` proposes,
//! `POST /api/changes/{id}/submit|approve|reject|apply|rollback` move it on. Each answers
//! the change as `GET /api/changes/{id}` shows it; an invalid transition is a 409 naming the
//! change's state.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{Map, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;
use keel_app::changes::{history, impact, review};

/// A proposal: a target collection, or a collection to delete.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct ProposeInput {
    /// The target collection in PocketBase's JSON (matched by `id`, else `name`; merged into
    /// the current one as an update would be; a new name proposes a new collection).
    collection: Option<crate::openapi::schemas::Object>,
    /// The id or name of a collection to delete (instead of `collection`).
    delete: Option<String>,
    /// `true`: straight to review (`in_review`) instead of `draft`.
    submit: Option<bool>,
}

/// `{"reason": "…"}`.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct RejectInput {
    reason: String,
}

#[utoipa::path(
    post, path = "/api/changes", operation_id = "proposeChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), request_body = ProposeInput,
    responses((status = 200, description = "The proposal (`state` draft or in_review), with its findings, verdict, `apiVerdict`/`apiFindings`, the version it is based on (`previousVersion`) and its `impact` (without callers: `GET /api/changes/{id}/impact` lists them)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn propose(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::authz::authorize(&caller, keel_app::authz::Permission::CollectionsManage)?;
    let input: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    let row = review::propose(&state, &caller, &origin, input).await?;
    Ok(Json(impact::change_with_impact(&state, &caller, &row).await?))
}

#[utoipa::path(
    post, path = "/api/changes/{id}/submit", operation_id = "submitChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The change, in_review", body = crate::openapi::schemas::Object))
)]
pub(super) async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = review::submit(&state, &caller, &origin, &id).await?;
    Ok(Json(history::change_json(&row)))
}

#[utoipa::path(
    post, path = "/api/changes/{id}/approve", operation_id = "approveChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The change: approved once its approvals reach the quorum, else still in_review", body = crate::openapi::schemas::Object))
)]
pub(super) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = review::approve(&state, &caller, &origin, &id).await?;
    Ok(Json(history::change_json(&row)))
}

#[utoipa::path(
    post, path = "/api/changes/{id}/reject", operation_id = "rejectChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), request_body = RejectInput,
    responses((status = 200, description = "The change, rejected", body = crate::openapi::schemas::Object))
)]
pub(super) async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    keel_app::authz::authorize(&caller, keel_app::authz::Permission::ChangesApprove)?;
    let input: Map<String, Value> = read_object(&state, &headers, body, Limit::Small).await?;
    let row = review::reject(&state, &caller, &origin, &id, &input).await?;
    Ok(Json(history::change_json(&row)))
}

#[utoipa::path(
    post, path = "/api/changes/{id}/apply", operation_id = "applyChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The change, applied (its version now the collection's)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = review::apply(&state, &caller, &origin, &id).await?;
    Ok(Json(history::change_json(&row)))
}

#[utoipa::path(
    post, path = "/api/changes/{id}/rollback", operation_id = "rollbackChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The change, rolled_back (the reverse change is recorded as its own change)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = review::rollback(&state, &caller, &origin, &id).await?;
    Ok(Json(history::change_json(&row)))
}
