//! Roles: the built-in and custom roles, who holds them, and a record's roles.
//!
//! Reading takes `roles:read`, changing `roles:manage`; built-in roles are a 403 to change or
//! delete. Anti-escalation: a caller who is not a superuser may only create, change, delete,
//! assign or unassign a role whose every permission (before and after a change) they hold
//! themselves ([`may_grant`]). Roles are held by the records of auth collections other than
//! `_superusers`. Every change is an audit entry (`role.create|update|delete|assign|unassign`).

use std::sync::Arc;

use keel_auth::identity::Role;
use keel_core::Error;
use keel_data::{Access, Collection, RequestInfo};
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Origin};
use crate::authz::{authorize, may_grant, Permission};
use crate::caller::Caller;
use crate::App;

/// A record holding a role.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub collection_id: String,
    /// Empty when the collection no longer exists.
    pub collection_name: String,
    pub record_id: String,
}

/// 403 unless `caller` may manage roles at all; entry points may call it before reading a
/// body (every change checks it again).
pub fn may_manage(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::RolesManage)
}

/// Every role (`roles:read`).
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<Role>, Error> {
    authorize(caller, Permission::RolesRead)?;
    app.identity.list_roles().await
}

/// The role `name` (`roles:read`; 404 when absent).
pub async fn view(app: &App, caller: &Caller, name: &str) -> Result<Role, Error> {
    authorize(caller, Permission::RolesRead)?;
    role_or_404(app, name).await
}

/// Creates a role (`roles:manage`, holding every permission it grants).
pub async fn create(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    name: &str,
    description: &str,
    permissions: Vec<String>,
) -> Result<Role, Error> {
    may_manage(caller)?;
    let name = name.trim();
    may_grant(caller, &format!("the role {name:?}"), &well_formed(&permissions))?;
    let role = app.identity.create_role(name, description.trim(), permissions).await?;
    let entry = audit::entry(caller, origin, "role.create")
        .detail("role", role.name.clone())
        .detail("permissions", role.permissions.clone());
    app.identity.audit(entry).await;
    Ok(role)
}

/// Changes a custom role's description and/or permissions (`roles:manage`, holding every
/// permission of the role before and after).
pub async fn update(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    name: &str,
    description: Option<&str>,
    permissions: Option<Vec<String>>,
) -> Result<Role, Error> {
    let before = custom_role(app, caller, name, "changed").await?;
    if let Some(p) = &permissions {
        may_grant(caller, &format!("the role {name:?}"), &well_formed(p))?;
    }
    let role = app
        .identity
        .update_role(name, description.map(str::trim), permissions)
        .await?;
    let entry = audit::entry(caller, origin, "role.update")
        .detail("role", role.name.clone())
        .detail("permissions", role.permissions.clone())
        .detail(
            "before",
            json!({"description": before.description, "permissions": before.permissions}),
        )
        .detail(
            "after",
            json!({"description": role.description, "permissions": role.permissions}),
        );
    app.identity.audit(entry).await;
    Ok(role)
}

/// Deletes a custom role (`roles:manage`, holding every permission of it).
pub async fn delete(app: &App, caller: &Caller, origin: &Origin, name: &str) -> Result<(), Error> {
    custom_role(app, caller, name, "deleted").await?;
    app.identity.delete_role(name).await?;
    let entry = audit::entry(caller, origin, "role.delete").detail("role", name.to_string());
    app.identity.audit(entry).await;
    Ok(())
}

/// The records holding the role `name` (`roles:read`).
pub async fn members(app: &App, caller: &Caller, name: &str) -> Result<Vec<Member>, Error> {
    authorize(caller, Permission::RolesRead)?;
    role_or_404(app, name).await?;
    Ok(app
        .identity
        .role_members(name)
        .await?
        .into_iter()
        .map(|(collection_id, record_id)| Member {
            collection_name: app
                .store
                .collection(&collection_id)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            collection_id,
            record_id,
        })
        .collect())
}

/// Assigns the role `name` to a record of an auth collection (by name or id); returns the
/// record's roles now.
pub async fn assign(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    name: &str,
    collection: &str,
    record: &str,
) -> Result<Vec<String>, Error> {
    let collection = holders(app, caller, name, collection).await?;
    require_record(app, &collection, record).await?;
    app.identity.assign_role(&collection.id, record, name).await?;
    let entry = audit::entry(caller, origin, "role.assign")
        .record(&collection.id, record)
        .detail("role", name.to_string());
    app.identity.audit(entry).await;
    app.identity.roles_of(&collection.id, record).await
}

/// Unassigns the role; the record need not exist any more (so stale assignments can go).
pub async fn unassign(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    name: &str,
    collection: &str,
    record: &str,
) -> Result<(), Error> {
    let collection = holders(app, caller, name, collection).await?;
    app.identity.unassign_role(&collection.id, record, name).await?;
    let entry = audit::entry(caller, origin, "role.unassign")
        .record(&collection.id, record)
        .detail("role", name.to_string());
    app.identity.audit(entry).await;
    Ok(())
}

/// A record's role names: for holders of `roles:read`, and for the record itself.
pub async fn of_record(app: &App, caller: &Caller, collection: &str, id: &str) -> Result<Vec<String>, Error> {
    let collection = auth_collection(app, collection)?;
    let itself = caller
        .auth
        .as_ref()
        .is_some_and(|a| a.collection.id == collection.id && a.id() == id);
    if !itself {
        authorize(caller, Permission::RolesRead)?;
        require_record(app, &collection, id).await?;
    }
    app.identity.roles_of(&collection.id, id).await
}

/// The custom role `name` a manager changes or deletes (`verb`): 404 when absent, 403 for a
/// built-in role or one granting a permission the caller does not hold.
async fn custom_role(app: &App, caller: &Caller, name: &str, verb: &str) -> Result<Role, Error> {
    may_manage(caller)?;
    let role = role_or_404(app, name).await?;
    if role.builtin {
        return Err(Error::Forbidden(format!(
            "The built-in role {name:?} cannot be {verb}."
        )));
    }
    may_grant_role(caller, &role)?;
    Ok(role)
}

/// The auth collection whose records a manager gives the role `name` or takes it from: 404
/// for an unknown role, 403 for one granting a permission the caller does not hold.
async fn holders(app: &App, caller: &Caller, name: &str, collection: &str) -> Result<Arc<Collection>, Error> {
    may_manage(caller)?;
    let role = role_or_404(app, name).await?;
    may_grant_role(caller, &role)?;
    auth_collection(app, collection)
}

/// The role `name`, or a 404 saying so.
async fn role_or_404(app: &App, name: &str) -> Result<Role, Error> {
    app.identity
        .role(name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("No role named {name:?}.")))
}

/// 403 unless `caller` holds every permission of `role` (superusers always do).
fn may_grant_role(caller: &Caller, role: &Role) -> Result<(), Error> {
    may_grant(caller, &format!("the role {:?}", role.name), &role.permissions)
}

/// The well-formed permissions of `p`: the malformed ones are left to the store's 400 naming
/// `permissions`, so bad input is reported as such rather than as a permission not held.
fn well_formed(p: &[String]) -> Vec<&str> {
    p.iter()
        .map(String::as_str)
        .filter(|p| keel_auth::permissions::is_valid_permission(p))
        .collect()
}

/// The auth collection `name_or_id` (404 when absent, 400 naming `collection` when it is not
/// an auth collection or is `_superusers`, who hold every permission without roles).
fn auth_collection(app: &App, name_or_id: &str) -> Result<Arc<Collection>, Error> {
    let collection = app
        .store
        .collection(name_or_id)
        .map_err(|_| Error::NotFound(format!("No collection named {name_or_id:?}.")))?;
    if collection.auth.is_none() {
        return Err(Error::field(
            "collection",
            "validation_not_auth_collection",
            format!(
                "{:?} is not an auth collection: only auth records hold roles.",
                collection.name
            ),
        ));
    }
    if collection.id == keel_data::schema::SUPERUSERS_ID {
        return Err(Error::field(
            "collection",
            "validation_superusers",
            "Superusers hold every permission; roles are for the records of other auth collections.",
        ));
    }
    Ok(collection)
}

/// 404 unless the record `id` exists in `collection`.
async fn require_record(app: &App, collection: &Arc<Collection>, id: &str) -> Result<(), Error> {
    match app
        .store
        .get_record(collection, id, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(_) => Ok(()),
        Err(Error::NotFound(_)) => Err(Error::NotFound(format!(
            "No record {id:?} in the collection {:?}.",
            collection.name
        ))),
        Err(e) => Err(e),
    }
}
