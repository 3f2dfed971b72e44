//! List, create, view, change and delete roles (`keel_app::roles`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::roles;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRole {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateRole {
    description: Option<String>,
    permissions: Option<Vec<String>>,
}

#[utoipa::path(
    get, path = "/api/roles", operation_id = "listRoles", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let roles = roles::list(&state, &caller).await?;
    Ok(Json(json!({ "items": to_json(&roles)? })))
}

#[utoipa::path(
    get, path = "/api/roles/{name}", operation_id = "viewRole", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Role))
)]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(&roles::view(&state, &caller, &name).await?)?))
}

#[utoipa::path(
    post, path = "/api/roles", operation_id = "createRole", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), request_body = CreateRole, responses((status = 200, body = crate::openapi::schemas::Role))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    roles::may_manage(&caller)?;
    let input: CreateRole = read_object(&state, &headers, body, Limit::Small).await?;
    let role = roles::create(
        &state,
        &caller,
        &origin,
        &input.name,
        &input.description,
        input.permissions,
    )
    .await?;
    Ok(Json(to_json(&role)?))
}

#[utoipa::path(
    patch, path = "/api/roles/{name}", operation_id = "updateRole", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), request_body = UpdateRole, responses((status = 200, body = crate::openapi::schemas::Role))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    roles::may_manage(&caller)?;
    let input: UpdateRole = read_object(&state, &headers, body, Limit::Small).await?;
    let role = roles::update(
        &state,
        &caller,
        &origin,
        &name,
        input.description.as_deref(),
        input.permissions,
    )
    .await?;
    Ok(Json(to_json(&role)?))
}

#[utoipa::path(
    delete, path = "/api/roles/{name}", operation_id = "deleteRole", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    roles::delete(&state, &caller, &origin, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
