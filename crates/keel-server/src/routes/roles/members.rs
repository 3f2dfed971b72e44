//! Who holds a role: list its members, assign and unassign it, and a record's roles
//! (`keel_app::roles`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;
use keel_app::roles;

#[utoipa::path(
    get, path = "/api/roles/{name}/members", operation_id = "roleMembers", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "`{items: [{collectionId, collectionName, recordId}]}`", body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let items = roles::members(&state, &caller, &name).await?;
    Ok(Json(json!({ "items": items })))
}

#[utoipa::path(
    put, path = "/api/roles/{name}/members/{collection}/{record}", operation_id = "assignRole", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "`{roles}`: the record's roles now", body = crate::openapi::schemas::Object))
)]
pub(super) async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path((name, collection, record)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let roles = roles::assign(&state, &caller, &origin, &name, &collection, &record).await?;
    Ok(Json(json!({ "roles": roles })))
}

/// Unassigns the role; the record need not exist any more (so stale assignments can go).
#[utoipa::path(
    delete, path = "/api/roles/{name}/members/{collection}/{record}", operation_id = "unassignRole", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Unassigned"))
)]
pub(super) async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path((name, collection, record)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    roles::unassign(&state, &caller, &origin, &name, &collection, &record).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A record's roles: for holders of `roles:read`, and for the record itself.
#[utoipa::path(
    get, path = "/api/collections/{collection}/records/{id}/roles", operation_id = "recordRoles", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "The record's role names", body = crate::openapi::schemas::Object))
)]
pub(super) async fn record_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let roles = roles::of_record(&state, &caller, &collection, &id).await?;
    Ok(Json(json!({ "roles": roles })))
}
