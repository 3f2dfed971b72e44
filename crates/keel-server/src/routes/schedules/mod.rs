//! The schedules API (`/api/schedules`): schedules that enqueue a job per tick.
//!
//! - `GET /api/schedules` (`jobs:read`), `POST /api/schedules` (`jobs:admin`);
//! - `GET /api/schedules/{id}?next=N` with the next N fire times (default 5, at most 100)
//!   (`jobs:read`); `PATCH` and `DELETE` (`jobs:admin`);
//! - `POST /api/schedules/{id}/pause|resume|trigger` (`jobs:admin`);
//! - `GET /api/schedules/{id}/runs?limit=N` newest first (`jobs:read`).
//!
//! `{id}` is a schedule's id or its name.

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod actions;
mod crud;

/// The schedules routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list, crud::create))
        .routes(routes!(crud::view, crud::update, crud::delete))
        .routes(routes!(actions::pause))
        .routes(routes!(actions::resume))
        .routes(routes!(actions::trigger))
        .routes(routes!(actions::runs))
}
