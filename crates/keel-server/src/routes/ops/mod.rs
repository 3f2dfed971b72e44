//! Ops (`/api/ops`, over `keel_app::ops`):
//!
//! - targets (`ops:read`, `ops:manage`): `GET|POST /api/ops/targets`,
//!   `GET|PATCH|DELETE /api/ops/targets/{id}` (id or name), `POST /api/ops/targets/{id}/test`;
//! - runbooks (`ops:read`, `ops:manage`): `GET|POST /api/ops/runbooks`,
//!   `GET|PUT|DELETE /api/ops/runbooks/{id}` (id or name; PUT makes a new version),
//!   `GET /api/ops/runbooks/{id}/versions`, `GET /api/ops/runbooks/{id}/versions/{version}`,
//!   `POST /api/ops/runbooks/import` (JSON or YAML text: creates, or adds a version),
//!   `GET /api/ops/runbooks/{id}/export?format=yaml|json`;
//! - runs: `POST /api/ops/runbooks/{id}/run` `{"params": {…}}` (`ops:run`) → the run;
//!   `GET /api/ops/runs?filter=…` and `GET /api/ops/runs/{id}` (with its steps; `ops:read`),
//!   `GET /api/ops/runs/{id}/log?after=SEQ&limit=N` (the log by cursor),
//!   `POST /api/ops/runs/{id}/cancel|rerun` (`ops:run`),
//!   `POST /api/ops/runs/{id}/approve|reject` `{"comment"}` (`ops:approve`).

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod runbooks;
mod runs;
mod targets;

/// The ops routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(targets::list, targets::create))
        .routes(routes!(targets::view, targets::update, targets::delete))
        .routes(routes!(targets::test))
        .routes(routes!(runbooks::list, runbooks::create))
        .routes(routes!(runbooks::import))
        .routes(routes!(runbooks::view, runbooks::update, runbooks::delete))
        .routes(routes!(runbooks::versions))
        .routes(routes!(runbooks::version))
        .routes(routes!(runbooks::export))
        .routes(routes!(runs::launch))
        .routes(routes!(runs::list))
        .routes(routes!(runs::view))
        .routes(routes!(runs::log))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::rerun))
        .routes(routes!(runs::approve))
        .routes(routes!(runs::reject))
}
