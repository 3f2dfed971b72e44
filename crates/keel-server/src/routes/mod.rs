//! Every route, one module per service, one file per endpoint where it helps.

use axum::Router;

use crate::state::AppState;

pub mod auth;
pub mod batch;
pub mod collections;
pub mod files;
pub mod health;
pub mod realtime;
pub mod records;
pub mod settings;

/// Assembles the app. Each module contributes a `routes()` router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(settings::routes())
        .merge(collections::routes())
        .merge(records::routes())
        .merge(auth::routes())
        .merge(files::routes())
        .merge(batch::routes())
        .merge(realtime::routes())
        .with_state(state)
}
