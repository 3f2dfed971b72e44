//! PocketBase's files API: `GET /api/files/{collection}/{recordId}/{filename}` and
//! `POST /api/files/token`.

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

mod serve;
mod token;

/// The files routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/files/token", post(token::token))
        .route("/api/files/{collection}/{record}/{filename}", get(serve::serve))
}
