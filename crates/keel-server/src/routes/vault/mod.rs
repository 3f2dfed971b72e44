//! The vault (`/api/vault/secrets`, `keel_app::vault`): secrets whose `data` is write-only.
//!
//! - `GET /api/vault/secrets` (`vault:read`) → a page of metadata `{page, perPage, totalItems,
//!   totalPages, items}`; `GET /api/vault/secrets/{id}` (id or name) → one secret's metadata;
//! - `POST /api/vault/secrets` (`vault:manage`) `{name, type, description?, data}` → the
//!   metadata (never `data`); `PATCH /api/vault/secrets/{id}` (any of those; without `data` the
//!   data stays); `DELETE /api/vault/secrets/{id}` (204);
//! - `POST /api/vault/secrets/{id}/reveal` (`vault:reveal`, audited) → the metadata with `data`.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod crud;
mod reveal;

/// The vault routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list, crud::create))
        .routes(routes!(crud::view, crud::update, crud::delete))
        .routes(routes!(reveal::reveal))
}
