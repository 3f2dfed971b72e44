//! Lockout after repeated failed sign-ins of one identity: failures are counted in the cache
//! provider (shared by every Keel process when it is Redis) per auth collection and
//! identity, in fixed windows of `[auth] lockout_secs`; past `lockout_attempts` the identity
//! gets 429 with `Retry-After` until the window ends, whatever the password.

use std::time::Duration;

use keel_core::Error;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

const NS: &str = "keel-auth-lockout";

/// The counter key of the current fixed window and the seconds left in it.
fn window(state: &AppState, collection_id: &str, identity: &str) -> (String, u64) {
    let len = state.config.auth.lockout_secs.max(1);
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let bucket = now / len;
    let key = format!("{collection_id}:{}:{bucket}", identity.trim().to_lowercase());
    (key, ((bucket + 1) * len).saturating_sub(now).max(1))
}

/// `Err(429)` when `identity` is locked out of `collection_id`.
pub(crate) async fn check(state: &AppState, collection_id: &str, identity: &str) -> Result<(), ApiError> {
    let limit = state.config.auth.lockout_attempts;
    if limit == 0 || identity.is_empty() {
        return Ok(());
    }
    let (key, left) = window(state, collection_id, identity);
    let failures = match state.cache.get(NS, &key).await {
        Ok(v) => v.and_then(|v| v.as_i64()).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the failed sign-in count");
            0
        }
    };
    if failures < i64::from(limit) {
        return Ok(());
    }
    Err(ApiError(Error::TooManyRequests {
        message: format!("Too many failed sign-ins for this account. Try again in {left} seconds."),
        retry_after_secs: left,
    }))
}

/// Counts one failed sign-in (an atomic increment, so parallel attempts all count). Errors
/// of the cache are logged, never returned.
pub(crate) async fn record_failure(state: &AppState, collection_id: &str, identity: &str) {
    if state.config.auth.lockout_attempts == 0 || identity.is_empty() {
        return;
    }
    let (key, left) = window(state, collection_id, identity);
    // The first failure of a window creates the counter with the window's TTL; increments
    // keep it.
    let created = match state.cache.exists(NS, &key).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            state
                .cache
                .set(NS, &key, Value::from(0), Some(Duration::from_secs(left)), &[])
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = created {
        tracing::warn!(error = %e, "could not count a failed sign-in");
        return;
    }
    if let Err(e) = state.cache.incr(NS, &key, 1).await {
        tracing::warn!(error = %e, "could not count a failed sign-in");
    }
}

/// Forgets the failures of an identity (after a successful sign-in).
pub(crate) async fn reset(state: &AppState, collection_id: &str, identity: &str) {
    if identity.is_empty() {
        return;
    }
    let (key, _) = window(state, collection_id, identity);
    let _ = state.cache.delete(NS, &key).await;
}
