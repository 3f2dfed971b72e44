//! PocketBase's collections API (`/api/collections`): superusers, and holders of
//! `collections:read` / `collections:manage` for every collection but the system ones.

use crate::state::AppState;
use axum::routing::{delete, get};
use axum::Router;

mod filter;
mod list;
mod remove;
mod scaffolds;
mod view;
mod write;

/// The collections routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/collections", get(list::list).post(write::create))
        .route("/api/collections/meta/scaffolds", get(scaffolds::scaffolds))
        .route(
            "/api/collections/{collection}",
            get(view::view).patch(write::update).delete(remove::delete),
        )
        .route("/api/collections/{collection}/truncate", delete(remove::truncate))
}
