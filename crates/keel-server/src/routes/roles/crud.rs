//! List, create, view, change and delete roles.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{may_grant_role, role_or_404};
use crate::body::{read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::{Caller, ClientOrigin};
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::audit;
use keel_app::authz::{authorize, may_grant, Permission};

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

/// The well-formed permissions of `p`: the malformed ones are left to the store's 400 naming
/// `permissions`, so bad input is reported as such rather than as a permission not held.
fn well_formed(p: &[String]) -> Vec<&str> {
    p.iter()
        .map(String::as_str)
        .filter(|p| keel_auth::permissions::is_valid_permission(p))
        .collect()
}

#[utoipa::path(
    get, path = "/api/roles", operation_id = "listRoles", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::RolesRead)?;
    let roles = state.identity.list_roles().await?;
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
    authorize(&caller, Permission::RolesRead)?;
    Ok(Json(to_json(&role_or_404(&state, &name).await?)?))
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
    authorize(&caller, Permission::RolesManage)?;
    let input: CreateRole = read_object(&state, &headers, body, Limit::Small).await?;
    let name = input.name.trim();
    may_grant(&caller, &format!("the role {name:?}"), &well_formed(&input.permissions))?;
    let role = state
        .identity
        .create_role(name, input.description.trim(), input.permissions)
        .await?;
    let entry = audit::entry(&caller, &origin, "role.create")
        .detail("role", role.name.clone())
        .detail("permissions", role.permissions.clone());
    state.identity.audit(entry).await;
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
    authorize(&caller, Permission::RolesManage)?;
    let input: UpdateRole = read_object(&state, &headers, body, Limit::Small).await?;
    let before = role_or_404(&state, &name).await?;
    if before.builtin {
        return Err(ApiError::forbidden(format!(
            "The built-in role {name:?} cannot be changed."
        )));
    }
    may_grant_role(&caller, &before)?;
    if let Some(p) = &input.permissions {
        may_grant(&caller, &format!("the role {name:?}"), &well_formed(p))?;
    }
    let role = state
        .identity
        .update_role(&name, input.description.as_deref().map(str::trim), input.permissions)
        .await?;
    let entry = audit::entry(&caller, &origin, "role.update")
        .detail("role", role.name.clone())
        .detail("permissions", role.permissions.clone())
        .detail(
            "before",
            serde_json::json!({"description": before.description, "permissions": before.permissions}),
        )
        .detail(
            "after",
            serde_json::json!({"description": role.description, "permissions": role.permissions}),
        );
    state.identity.audit(entry).await;
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
    authorize(&caller, Permission::RolesManage)?;
    let role = role_or_404(&state, &name).await?;
    if role.builtin {
        return Err(ApiError::forbidden(format!(
            "The built-in role {name:?} cannot be deleted."
        )));
    }
    may_grant_role(&caller, &role)?;
    state.identity.delete_role(&name).await?;
    let entry = audit::entry(&caller, &origin, "role.delete").detail("role", name);
    state.identity.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}
