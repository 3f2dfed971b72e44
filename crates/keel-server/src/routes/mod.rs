//! Every route, one module per service, one file per endpoint where it helps.

use axum::Router;

use crate::state::AppState;

pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod cache;
pub mod collections;
pub mod console;
pub mod files;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod realtime;
pub mod records;
pub mod roles;
pub mod schedules;
pub mod settings;

/// Assembles the app. Each module contributes a `routes()` router; the middleware stack
/// (request id, trace, metrics, CORS, body limit) wraps them all.
pub fn router(state: AppState) -> Router {
    // Only axum's own body extractors see this limit; Keel's routes read bodies with
    // `crate::body`, which applies each route's limit.
    let extractor_limit = state.config.limits.small_body_bytes;
    let app = Router::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(settings::routes())
        .merge(collections::routes())
        .merge(records::routes())
        .merge(auth::routes())
        .merge(files::routes())
        .merge(batch::routes())
        .merge(realtime::routes())
        .merge(cache::routes())
        .merge(jobs::routes())
        .merge(schedules::routes())
        .merge(roles::routes())
        .merge(apikeys::routes())
        .merge(audit::routes())
        .merge(console::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::layer,
        ))
        .with_state(state);
    crate::middleware::apply(app, extractor_limit)
}
