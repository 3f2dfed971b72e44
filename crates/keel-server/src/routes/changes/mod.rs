//! Schema-change governance (`/api/changes`, `keel_app::changes`):
//!
//! - `POST /api/changes/classify` (`changes:read`) `{"collection": {…}}` or `{"delete": "…"}` →
//!   `{verdict, breaking, findings}` for the change from the current collection to the target,
//!   with the data checks counted on the current rows; nothing is applied;
//! - `POST /api/changes/api-diff` (`changes:read`) `{"old": {…}, "new": {…}}` (OpenAPI 3.x) →
//!   `{verdict, breaking, findings}` in oasdiff's vocabulary;
//! - the history (`changes:read`): `GET /api/changes`, `GET /api/changes/{id}` and its
//!   impact `GET /api/changes/{id}/impact` (history.rs),
//!   `GET /api/changes/stats`, `GET /api/changes/export` (stats.rs), and a collection's
//!   versions `GET /api/collections/{c}/versions[/{version}]` (versions.rs);
//! - review (review.rs): `POST /api/changes` proposes, `POST /api/changes/{id}/submit`,
//!   `/approve`, `/reject`, `/apply`, `/rollback`; comments (comments.rs):
//!   `GET|POST /api/changes/{id}/comments`;
//! - a collection's records API as OpenAPI: `GET /api/collections/{c}/openapi.json`
//!   (openapi.rs; `collections:read` or `changes:read`).

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod api_diff;
mod classify;
mod comments;
mod history;
mod openapi;
mod review;
mod stats;
mod versions;

/// The changes routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(classify::classify))
        .routes(routes!(api_diff::api_diff))
        .routes(routes!(history::list, review::propose))
        .routes(routes!(review::submit))
        .routes(routes!(review::approve))
        .routes(routes!(review::reject))
        .routes(routes!(review::apply))
        .routes(routes!(review::rollback))
        .routes(routes!(comments::list, comments::add))
        .routes(routes!(stats::stats))
        .routes(routes!(stats::export))
        .routes(routes!(history::view))
        .routes(routes!(history::view_impact))
        .routes(routes!(openapi::document))
        .routes(routes!(versions::versions))
        .routes(routes!(versions::version))
}
