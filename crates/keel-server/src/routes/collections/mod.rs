//! PocketBase's collections API (`/api/collections`): superusers, and holders of
//! `collections:read` / `collections:manage` for every collection but the system ones.

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod import;
mod list;
mod remove;
mod scaffolds;
mod view;
mod write;

/// The collections routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list, write::create))
        .routes(routes!(scaffolds::scaffolds))
        .routes(routes!(import::import))
        .routes(routes!(view::view, write::update, remove::delete))
        .routes(routes!(remove::truncate))
}
