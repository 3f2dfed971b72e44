//! Who holds a role: list its members, assign and unassign it, and a record's roles.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use keel_core::Error;
use keel_data::{Access, Collection, RequestInfo};
use serde_json::{json, Value};

use super::{may_grant_role, role_or_404};
use crate::error::{ApiError, ApiResult};
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;
use keel_app::audit;
use keel_app::authz::{authorize, Permission};

/// The auth collection `name_or_id` (404 when absent, 400 naming `collection` when it is not
/// an auth collection or is `_superusers`, who hold every permission without roles).
fn auth_collection(state: &AppState, name_or_id: &str) -> ApiResult<Arc<Collection>> {
    let collection = state
        .store
        .collection(name_or_id)
        .map_err(|_| ApiError(Error::NotFound(format!("No collection named {name_or_id:?}."))))?;
    if collection.auth.is_none() {
        return Err(ApiError::field(
            "collection",
            "validation_not_auth_collection",
            format!(
                "{:?} is not an auth collection: only auth records hold roles.",
                collection.name
            ),
        ));
    }
    if collection.id == keel_data::schema::SUPERUSERS_ID {
        return Err(ApiError::field(
            "collection",
            "validation_superusers",
            "Superusers hold every permission; roles are for the records of other auth collections.",
        ));
    }
    Ok(collection)
}

/// 404 unless the record `id` exists in `collection`.
async fn require_record(state: &AppState, collection: &Arc<Collection>, id: &str) -> ApiResult<()> {
    match state
        .store
        .get_record(collection, id, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(_) => Ok(()),
        Err(Error::NotFound(_)) => Err(ApiError(Error::NotFound(format!(
            "No record {id:?} in the collection {:?}.",
            collection.name
        )))),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get, path = "/api/roles/{name}/members", operation_id = "roleMembers", tag = "roles",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "`{items: [{collectionId, collectionName, recordId}]}`", body = crate::openapi::schemas::Items))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::RolesRead)?;
    role_or_404(&state, &name).await?;
    let items: Vec<Value> = state
        .identity
        .role_members(&name)
        .await?
        .into_iter()
        .map(|(collection_id, record_id)| {
            let collection_name = state
                .store
                .collection(&collection_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            json!({"collectionId": collection_id, "collectionName": collection_name, "recordId": record_id})
        })
        .collect();
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
    authorize(&caller, Permission::RolesManage)?;
    let role = role_or_404(&state, &name).await?;
    may_grant_role(&caller, &role)?;
    let collection = auth_collection(&state, &collection)?;
    require_record(&state, &collection, &record).await?;
    state.identity.assign_role(&collection.id, &record, &name).await?;
    let entry = audit::entry(&caller, &origin, "role.assign")
        .record(&collection.id, &record)
        .detail("role", name);
    state.identity.audit(entry).await;
    let roles = state.identity.roles_of(&collection.id, &record).await?;
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
    authorize(&caller, Permission::RolesManage)?;
    let role = role_or_404(&state, &name).await?;
    may_grant_role(&caller, &role)?;
    let collection = auth_collection(&state, &collection)?;
    state.identity.unassign_role(&collection.id, &record, &name).await?;
    let entry = audit::entry(&caller, &origin, "role.unassign")
        .record(&collection.id, &record)
        .detail("role", name);
    state.identity.audit(entry).await;
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
    let collection = auth_collection(&state, &collection)?;
    let itself = caller
        .auth
        .as_ref()
        .is_some_and(|a| a.collection.id == collection.id && a.id() == id);
    if !itself {
        authorize(&caller, Permission::RolesRead)?;
        require_record(&state, &collection, &id).await?;
    }
    let roles = state.identity.roles_of(&collection.id, &id).await?;
    Ok(Json(json!({ "roles": roles })))
}
