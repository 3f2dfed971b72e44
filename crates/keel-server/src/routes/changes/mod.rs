//! Schema-change governance (`/api/changes`, `keel_app::changes`):
//!
//! - `POST /api/changes/classify` (`changes:read`) `{"collection": {…}}` or `{"delete": "…"}` →
//!   `{verdict, breaking, findings}` for the change from the current collection to the target,
//!   with the data checks counted on the current rows; nothing is applied;
//! - `POST /api/changes/api-diff` (`changes:read`) `{"old": {…}, "new": {…}}` (OpenAPI 3.x) →
//!   `{verdict, breaking, findings}` in oasdiff's vocabulary;
//! - the history (`changes:read`): `GET /api/changes`, `GET /api/changes/{id}` (history.rs),
//!   `GET /api/changes/stats`, `GET /api/changes/export` (stats.rs), and a collection's
//!   versions `GET /api/collections/{c}/versions[/{version}]` (versions.rs).

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod api_diff;
mod classify;
mod history;
mod stats;
mod versions;

/// The changes routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(classify::classify))
        .routes(routes!(api_diff::api_diff))
        .routes(routes!(history::list))
        .routes(routes!(stats::stats))
        .routes(routes!(stats::export))
        .routes(routes!(history::view))
        .routes(routes!(versions::versions))
        .routes(routes!(versions::version))
}
