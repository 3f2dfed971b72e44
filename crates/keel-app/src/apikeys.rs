//! API keys for service accounts, all under `apikeys:manage`: list, view, create (its secret
//! returned this once), revoke and rotate (a new secret; the old one stops working).
//!
//! Anti-escalation: a caller who is not a superuser may only give a key (on create) or act on
//! a key (revoke, rotate) whose roles' permissions they all hold ([`may_grant`]). Audit
//! entries `apikey.create|revoke|rotate`.

use keel_auth::identity::ApiKey;
use keel_core::Error;

use crate::audit::{self, Origin};
use crate::authz::{authorize, may_grant, Permission};
use crate::caller::Caller;
use crate::App;

/// 403 unless `caller` may manage API keys; entry points may call it before reading a body
/// (every call checks it again).
pub fn may_manage(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::ApiKeysManage)
}

/// Every key (never its hash).
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<ApiKey>, Error> {
    may_manage(caller)?;
    app.identity.list_api_keys().await
}

/// The key `id` (404 when absent).
pub async fn view(app: &App, caller: &Caller, id: &str) -> Result<ApiKey, Error> {
    may_manage(caller)?;
    key_or_404(app, id).await
}

/// Creates a key holding `roles` (each must exist: a 400 naming `roles`), expiring at
/// `expires` when given; returns it with its secret.
pub async fn create(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    name: &str,
    roles: Vec<String>,
    expires: Option<&str>,
) -> Result<(ApiKey, String), Error> {
    may_manage(caller)?;
    may_grant_roles(app, caller, &roles, true).await?;
    let (key, secret) = app
        .identity
        .create_api_key(name, roles, expires, &caller.actor())
        .await?;
    let entry = audit::entry(caller, origin, "apikey.create")
        .detail("key", key.id.clone())
        .detail("name", key.name.clone())
        .detail("roles", key.roles.clone());
    app.identity.audit(entry).await;
    Ok((key, secret))
}

/// Revokes the key `id`; returns it revoked.
pub async fn revoke(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<ApiKey, Error> {
    may_manage(caller)?;
    let key = key_or_404(app, id).await?;
    may_grant_roles(app, caller, &key.roles, false).await?;
    let key = app.identity.revoke_api_key(id).await?;
    let entry = audit::entry(caller, origin, "apikey.revoke")
        .detail("key", key.id.clone())
        .detail("name", key.name.clone());
    app.identity.audit(entry).await;
    Ok(key)
}

/// A new secret for the key `id`: whoever rotates gets it, so they must hold its roles.
pub async fn rotate(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<(ApiKey, String), Error> {
    may_manage(caller)?;
    let key = key_or_404(app, id).await?;
    may_grant_roles(app, caller, &key.roles, false).await?;
    let (key, secret) = app.identity.rotate_api_key(id).await?;
    let entry = audit::entry(caller, origin, "apikey.rotate")
        .detail("key", key.id.clone())
        .detail("name", key.name.clone());
    app.identity.audit(entry).await;
    Ok((key, secret))
}

/// The key `id`, or a 404 saying so.
async fn key_or_404(app: &App, id: &str) -> Result<ApiKey, Error> {
    app.identity
        .api_key(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("No API key with the id {id:?}.")))
}

/// 403 unless `caller` holds every permission of every role in `roles`; a 400 naming
/// `roles` for a role that does not exist when `strict` (on create; a role deleted since a
/// key was made grants nothing, so it is skipped on rotate and revoke).
async fn may_grant_roles(app: &App, caller: &Caller, roles: &[String], strict: bool) -> Result<(), Error> {
    for name in roles {
        match app.identity.role(name).await? {
            Some(role) => may_grant(caller, &format!("the role {name:?}"), &role.permissions)?,
            None if strict => {
                return Err(Error::field(
                    "roles",
                    "validation_unknown_role",
                    format!("No role named {name:?}."),
                ))
            }
            None => {}
        }
    }
    Ok(())
}
