//! The cache API (`/api/cache`): values by namespace and key, tag invalidation, stats.
//!
//! - `GET|PUT|DELETE /api/cache/{namespace}/{key}` (`PUT ?ttl=SECONDS&tags=a,b`, body = the
//!   JSON value);
//! - `POST /api/cache/{namespace}/{key}/incr` with `{"by": N}` (optional);
//! - `POST /api/cache/{namespace}/invalidate` with `{"tags": [...]}`;
//! - `POST /api/cache/{namespace}/get-many` with `{"keys": [...]}`;
//! - `POST /api/cache/{namespace}/set-many` with `{"entries": [{"key", "value", "ttl", "tags"}]}`;
//! - `GET /api/cache/{namespace}` (stats) and `DELETE /api/cache/{namespace}` (clear).
//!
//! The namespace-wide POSTs share the `{key}` route; [`post_action`] dispatches them by name
//! (a POST to any other key is a 404). Bodies are JSON objects read by `crate::body`, so a
//! wrong type, a missing or an unknown field is a 400 naming it.
//! Who may touch which namespace and what a name, TTL or batch may be are
//! [`keel_app::cache`]'s; each handler checks the caller with [`keel_app::cache::guard`]
//! before it reads a body.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use keel_core::Error;

use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod delete;
mod get;
mod get_many;
mod incr;
mod invalidate;
mod namespace;
mod put;
mod set_many;

/// The cache routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(namespace::stats, namespace::clear))
        .routes(routes!(
            get::get_value,
            put::put_value,
            delete::delete_value,
            post_action
        ))
        .routes(routes!(incr::incr))
}

/// `POST /api/cache/{namespace}/{action}`: the namespace-wide operations, by name.
#[utoipa::path(
    post, path = "/api/cache/{namespace}/{key}", operation_id = "cacheAction", tag = "cache",
    security(("authToken" = []), ("apiKey" = [])), params(("key" = String, Path, description = "The operation: `invalidate` `{tags}`, `get-many` `{keys}` or `set-many` `{entries}`")), request_body = crate::openapi::schemas::CacheAction, responses((status = 200, description = "get-many: `{values}` (by key; absent keys are null); invalidate: `{invalidated}` (how many entries)", body = crate::openapi::schemas::Object), (status = 204, description = "set-many: stored"))
)]
async fn post_action(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    match action.as_str() {
        "invalidate" => Ok(invalidate::invalidate(state, caller, namespace, &headers, body)
            .await?
            .into_response()),
        "get-many" => Ok(get_many::get_many(state, caller, namespace, &headers, body)
            .await?
            .into_response()),
        "set-many" => Ok(set_many::set_many(state, caller, namespace, &headers, body)
            .await?
            .into_response()),
        _ => Err(ApiError(Error::NotFound(
            "No such cache operation: POST /api/cache/{namespace}/ takes invalidate, get-many or \
             set-many, and POST /api/cache/{namespace}/{key}/incr increments a key. To store a \
             value use PUT /api/cache/{namespace}/{key}."
                .into(),
        ))),
    }
}
