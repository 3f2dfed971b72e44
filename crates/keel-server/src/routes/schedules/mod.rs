//! The schedules API (`/api/schedules`): schedules that enqueue a job per tick.
//!
//! - `GET /api/schedules` (`jobs:read`), `POST /api/schedules` (`jobs:admin`);
//! - `GET /api/schedules/{id}?next=N` with the next N fire times (default 5, at most 100)
//!   (`jobs:read`); `PATCH` and `DELETE` (`jobs:admin`);
//! - `POST /api/schedules/{id}/pause|resume|trigger` (`jobs:admin`);
//! - `GET /api/schedules/{id}/runs?limit=N` newest first (`jobs:read`).
//!
//! `{id}` is a schedule's id or its name.

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

mod actions;
mod crud;

/// The schedules routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/schedules", get(crud::list).post(crud::create))
        .route(
            "/api/schedules/{id}",
            get(crud::view).patch(crud::update).delete(crud::delete),
        )
        .route("/api/schedules/{id}/pause", post(actions::pause))
        .route("/api/schedules/{id}/resume", post(actions::resume))
        .route("/api/schedules/{id}/trigger", post(actions::trigger))
        .route("/api/schedules/{id}/runs", get(actions::runs))
}
