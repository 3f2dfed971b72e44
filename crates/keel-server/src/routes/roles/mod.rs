//! Roles (`/api/roles`): the built-in and custom roles, who holds them, and a record's roles.
//!
//! - `GET /api/roles` (`roles:read`) → `{"items": [role…]}`; `POST /api/roles`
//!   `{name, description, permissions}` (`roles:manage`) → the role;
//! - `GET|PATCH|DELETE /api/roles/{name}` (`roles:read` / `roles:manage`; built-in roles are
//!   a 403 to change or delete);
//! - `GET /api/roles/{name}/members` (`roles:read`) → `{"items": [{collectionId,
//!   collectionName, recordId}…]}`;
//! - `PUT|DELETE /api/roles/{name}/members/{collection}/{recordId}` (`roles:manage`): assign
//!   or unassign the role (auth collections only, by name or id);
//! - `GET /api/collections/{collection}/records/{id}/roles` (`roles:read`, or the record
//!   itself) → `{"roles": [...]}`.
//!
//! Anti-escalation: a caller who is not a superuser may only create, change, delete, assign
//! or unassign a role whose every permission (before and after a change) they hold
//! themselves ([`keel_app::authz::may_grant`]). Every change is an audit entry
//! (`role.create|update|delete|assign|unassign`).

use keel_auth::identity::Role;
use keel_core::Error;

use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use keel_app::authz::may_grant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod crud;
mod members;

/// The roles routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list, crud::create))
        .routes(routes!(crud::view, crud::update, crud::delete))
        .routes(routes!(members::list))
        .routes(routes!(members::assign, members::unassign))
        .routes(routes!(members::record_roles))
}

/// The role `name`, or a 404 saying so.
async fn role_or_404(state: &AppState, name: &str) -> ApiResult<Role> {
    state
        .identity
        .role(name)
        .await?
        .ok_or_else(|| ApiError(Error::NotFound(format!("No role named {name:?}."))))
}

/// 403 unless `caller` holds every permission of `role` (superusers always do).
fn may_grant_role(caller: &Caller, role: &Role) -> ApiResult<()> {
    Ok(may_grant(
        caller,
        &format!("the role {:?}", role.name),
        &role.permissions,
    )?)
}
