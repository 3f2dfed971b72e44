//! Keel's search service (`/api/search`, docs/search.md):
//!
//! - `GET /api/search?q=…&collections=a,b[&page&perPage&fields]` → records of several
//!   searchable collections merged by relevance, each under the caller's list rule for it
//!   (`keel_app::search::across`).

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod across;

/// The search routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(across::across))
}
