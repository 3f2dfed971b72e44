//! Every route, one module per service, one file per endpoint where it helps.

use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod batch;
pub mod cache;
pub mod changes;
pub mod collections;
pub mod console;
pub mod files;
pub mod health;
pub mod install;
pub mod jobs;
pub mod logs;
pub mod metrics;
pub mod notifications;
pub mod ops;
pub mod realtime;
pub mod records;
pub mod roles;
pub mod schedules;
pub mod search;
pub mod settings;
pub mod vault;
pub mod webhooks;

/// Every documented route: each module contributes an `OpenApiRouter` whose routes are
/// registered by their handlers' `#[utoipa::path]` (`routes!`), so a route cannot be served
/// without being in the document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(health::routes())
        .merge(install::routes())
        .merge(metrics::routes())
        .merge(settings::routes())
        .merge(backups::routes())
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
        .merge(logs::routes())
        .merge(webhooks::routes())
        .merge(notifications::routes())
        .merge(vault::routes())
        .merge(ops::routes())
        .merge(changes::routes())
        .merge(search::routes())
}

/// The OpenAPI document of every route in [`api`], completed by [`crate::openapi::finish`].
pub fn openapi() -> OpenApi {
    let mut doc = api().into_openapi();
    crate::openapi::finish(&mut doc);
    doc
}

/// Assembles the app: the documented routes, the document and its page (`/api/openapi.json`,
/// `/api/docs`), and the console's pages (`/_/`, HTML, not part of the Web API). The
/// middleware stack (request id, trace, request log, CORS, body limit, rate limits; metrics per
/// route) wraps them all.
pub fn router(state: AppState) -> impl crate::HttpApp {
    // Only axum's own body extractors see this limit; Keel's routes read bodies with
    // `crate::body`, which applies each route's limit.
    let extractor_limit = state.config.limits.small_body_bytes;
    let state_for_log = state.clone();
    let (api, mut doc) = api().split_for_parts();
    crate::openapi::finish(&mut doc);
    let app = api
        .merge(crate::openapi::routes(doc))
        .merge(console::routes())
        .with_state(state);
    crate::middleware::apply(app, &state_for_log, extractor_limit)
}
