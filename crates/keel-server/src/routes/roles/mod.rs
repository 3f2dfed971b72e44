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
//! Who may do what (anti-escalation, built-in roles, auth collections only) and the audit
//! entries are [`keel_app::roles`]'s.

use crate::state::AppState;
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
