//! Schema-change governance (`/api/changes`, `keel_app::changes`), first part:
//!
//! - `POST /api/changes/classify` (`changes:read`) `{"collection": {…}}` or `{"delete": "…"}` →
//!   `{verdict, breaking, findings}` for the change from the current collection to the target,
//!   with the data checks counted on the current rows; nothing is applied;
//! - `POST /api/changes/api-diff` (`changes:read`) `{"old": {…}, "new": {…}}` (OpenAPI 3.x) →
//!   `{verdict, breaking, findings}` in oasdiff's vocabulary.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod api_diff;
mod classify;

/// The changes routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(classify::classify))
        .routes(routes!(api_diff::api_diff))
}
