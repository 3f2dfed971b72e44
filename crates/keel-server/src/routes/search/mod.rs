//! Keel's search service (`/api/search`, docs/search.md):
//!
//! - `GET /api/search?q=…&collections=a,b[&page&perPage&fields]` → records of several
//!   searchable collections merged by relevance, each under the caller's list rule for it
//!   (`keel_app::search::across`);
//! - free-standing indexes (`keel_app::search::indexes`): `GET /api/search/indexes`
//!   (`search:read`), `PUT|DELETE /api/search/indexes/{name}` (`search:manage`),
//!   `GET /api/search/indexes/{name}?q&filter&facets&page&perPage` (`search:read`),
//!   `POST /api/search/indexes/{name}/documents` and
//!   `DELETE /api/search/indexes/{name}/documents/{id}` (`search:write`).

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod across;
mod indexes;

/// The search routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(across::across))
        .routes(routes!(indexes::list))
        .routes(routes!(indexes::search, indexes::put, indexes::delete))
        .routes(routes!(indexes::add_documents))
        .routes(routes!(indexes::delete_document))
}
