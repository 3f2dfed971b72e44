//! PocketBase's files API: `GET /api/files/{collection}/{recordId}/{filename}` and
//! `POST /api/files/token`.

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod range;
mod serve;
mod token;

/// The files routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token::token))
        .routes(routes!(serve::serve))
}
