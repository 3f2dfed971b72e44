//! The cache API (`/api/cache`): values by namespace and key, tag invalidation, stats.
//!
//! - `GET|PUT|DELETE /api/cache/{namespace}/{key}` (`PUT ?ttl=SECONDS&tags=a,b`, body = the
//!   JSON value);
//! - `POST /api/cache/{namespace}/invalidate` with `{"tags": [...]}`;
//! - `GET /api/cache/{namespace}` (stats) and `DELETE /api/cache/{namespace}` (clear).
//!
//! Namespaces, keys and tags match `[A-Za-z0-9_.:-]{1,200}`.

use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

mod delete;
mod get;
mod invalidate;
mod namespace;
mod put;

/// The cache routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/cache/{namespace}", get(namespace::stats).delete(namespace::clear))
        .route(
            "/api/cache/{namespace}/{key}",
            get(get::get_value)
                .put(put::put_value)
                .delete(delete::delete_value)
                .post(invalidate::invalidate),
        )
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
