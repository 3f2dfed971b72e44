//! The notifications service (`/api/notifications`), over [`keel_app::notifications`]:
//!
//! - `POST /api/notifications/send` (`notifications:send`) → `{id, recipients, deliveries}`;
//! - the history and inbox: `GET /api/notifications` (a PocketBase list of the caller's own,
//!   everyone's with `notifications:read`), `GET /api/notifications/{id}`,
//!   `POST …/{id}/read`, `POST …/{id}/ack`, `GET …/{id}/deliveries`;
//! - templates (`notifications:manage`): `POST|GET /api/notifications/templates`,
//!   `GET|PATCH|DELETE …/templates/{id}`, `POST …/templates/preview`;
//! - topics: `POST|GET /api/notifications/topics`, `DELETE …/topics/{name}`,
//!   `POST|DELETE …/topics/{name}/subscribers`;
//! - preferences: `GET|PATCH /api/notifications/preferences[/{userId}]`;
//! - rules (`notifications:manage`): `POST|GET /api/notifications/rules`,
//!   `GET|PATCH|DELETE …/rules/{id}`;
//! - devices: `POST|DELETE /api/notifications/devices`.

use keel_data::Record;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod devices;
mod inbox;
mod preferences;
mod rules;
mod send;
mod templates;
mod topics;

/// The notifications routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send::send))
        .routes(routes!(inbox::list))
        .routes(routes!(inbox::view))
        .routes(routes!(inbox::read))
        .routes(routes!(inbox::ack))
        .routes(routes!(inbox::deliveries))
        .routes(routes!(templates::list, templates::create))
        .routes(routes!(templates::view, templates::update, templates::delete))
        .routes(routes!(templates::preview))
        .routes(routes!(topics::list, topics::create))
        .routes(routes!(topics::delete))
        .routes(routes!(topics::subscribe, topics::unsubscribe))
        .routes(routes!(preferences::view_own, preferences::update_own))
        .routes(routes!(preferences::view, preferences::update))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::view, rules::update, rules::delete))
        .routes(routes!(devices::add, devices::delete))
}

/// A system row as the API shows it: its fields.
fn row(r: &Record) -> Value {
    Value::Object(r.data.clone())
}

/// `{"items": [...]}` of rows.
fn items(rows: &[Record]) -> Value {
    serde_json::json!({ "items": rows.iter().map(row).collect::<Vec<_>>() })
}
