//! Webhook endpoints (`/api/webhooks`), all under `webhooks:manage` (`keel_app::webhooks`):
//!
//! - `GET /api/webhooks` → a page `{page, perPage, totalItems, totalPages, items}`;
//!   `GET /api/webhooks/{id}` → the endpoint (never its secret);
//! - `POST /api/webhooks` `{url, events, collection?, filter?, headers?, active?, description?}`
//!   → the endpoint with `"secret"`, shown this once; `PATCH /api/webhooks/{id}` (any of
//!   those); `DELETE /api/webhooks/{id}` (204);
//! - `POST /api/webhooks/{id}/rotate-secret` → the endpoint with its new `"secret"` (the old
//!   one keeps signing for `[webhooks] secret_grace_hours`);
//! - `GET /api/webhooks/{id}/deliveries` → a page of delivery attempts, newest first;
//!   `POST /api/webhooks/{id}/deliveries/{deliveryId}/redeliver` → a new attempt of that
//!   message (same `webhook-id`); `POST /api/webhooks/{id}/test` → sends `webhook.test` now
//!   and answers with the attempt.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod actions;
mod crud;

/// The webhook routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list, crud::create))
        .routes(routes!(crud::view, crud::update, crud::delete))
        .routes(routes!(actions::rotate))
        .routes(routes!(actions::deliveries))
        .routes(routes!(actions::redeliver))
        .routes(routes!(actions::test))
}
