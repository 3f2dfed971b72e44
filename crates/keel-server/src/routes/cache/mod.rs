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
//! Namespaces, keys and tags match `[A-Za-z0-9_.:-]{1,200}`.

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

/// The most keys (`get-many`) or entries (`set-many`) one call may carry.
const MAX_BATCH: usize = 1000;

/// A 400 naming `field` when a batch of `len` is over [`MAX_BATCH`].
fn check_batch(field: &str, len: usize) -> Result<(), ApiError> {
    if len > MAX_BATCH {
        return Err(ApiError::field(
            field,
            "validation_too_many",
            format!("At most {MAX_BATCH} {field} per call (got {len}); split the request."),
        ));
    }
    Ok(())
}

/// Checks a namespace given to the API: a valid name (see [`check_name`]) that is not one of
/// Keel's own (`keel-…`, [`keel_core::cache::INTERNAL_NAMESPACE_PREFIX`]): a 403 for those,
/// whatever the caller's permissions, so no caller reads or clears lockout counters, rate-limit
/// windows or OAuth2 state.
pub(crate) fn check_namespace(namespace: &str) -> Result<(), ApiError> {
    check_name("namespace", namespace)?;
    if namespace.starts_with(keel_core::cache::INTERNAL_NAMESPACE_PREFIX) {
        return Err(ApiError::forbidden(format!(
            "Namespaces starting with \"{}\" are reserved for Keel itself; choose another namespace.",
            keel_core::cache::INTERNAL_NAMESPACE_PREFIX
        )));
    }
    Ok(())
}

/// The longest namespace, key or tag.
const MAX_NAME: usize = 200;

/// Checks a namespace, key or tag: 1–200 of `[A-Za-z0-9_.:-]`, else a 400 naming `field`.
pub(crate) fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "validation_invalid_name",
            format!("Must be 1 to {MAX_NAME} characters of A-Z, a-z, 0-9, _ . : -"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names() {
        for ok in ["a", "users:42", "A-b_c.d", &"x".repeat(200)] {
            assert!(check_name("key", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", "{x}", "*", &"x".repeat(201)] {
            assert!(check_name("key", bad).is_err(), "{bad}");
        }
    }
}
