//! Lockout after repeated failed sign-ins of one identity: failures are counted in the cache
//! provider (shared by every Keel process when it is Redis) per auth collection and
//! identity, over `[auth] lockout_secs`; past `lockout_attempts` the identity gets 429 with
//! `Retry-After` until the window ends, whatever the password.

use std::time::Duration;

use keel_core::Error;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

const NS: &str = "keel-auth-lockout";

fn key(collection_id: &str, identity: &str) -> String {
    format!("{collection_id}:{}", identity.trim().to_lowercase())
}

/// The counter value and when its window started (unix seconds).
async fn read(state: &AppState, key: &str) -> (i64, i64) {
    match state.cache.get(NS, key).await {
        Ok(Some(v)) => (
            v.get("n").and_then(Value::as_i64).unwrap_or(0),
            v.get("since").and_then(Value::as_i64).unwrap_or(0),
        ),
        _ => (0, 0),
    }
}

/// `Err(429)` when `identity` is locked out of `collection_id`.
pub(crate) async fn check(state: &AppState, collection_id: &str, identity: &str) -> Result<(), ApiError> {
    let limit = state.config.auth.lockout_attempts;
    if limit == 0 || identity.is_empty() {
        return Ok(());
    }
    let (n, since) = read(state, &key(collection_id, identity)).await;
    if n < i64::from(limit) {
        return Ok(());
    }
    let window = state.config.auth.lockout_secs as i64;
    let left = (since + window - chrono::Utc::now().timestamp()).max(1);
    Err(ApiError(Error::TooManyRequests {
        message: format!("Too many failed sign-ins for this account. Try again in {left} seconds."),
        retry_after_secs: left as u64,
    }))
}

/// Counts one failed sign-in. Errors of the cache are logged, never returned.
pub(crate) async fn record_failure(state: &AppState, collection_id: &str, identity: &str) {
    if state.config.auth.lockout_attempts == 0 || identity.is_empty() {
        return;
    }
    let k = key(collection_id, identity);
    let (n, since) = read(state, &k).await;
    let now = chrono::Utc::now().timestamp();
    let window = state.config.auth.lockout_secs.max(1);
    let since = if n == 0 { now } else { since };
    let left = (since + window as i64 - now).max(1) as u64;
    let value = serde_json::json!({"n": n + 1, "since": since});
    if let Err(e) = state
        .cache
        .set(NS, &k, value, Some(Duration::from_secs(left)), &[])
        .await
    {
        tracing::warn!(error = %e, "could not count a failed sign-in");
    }
}

/// Forgets the failures of an identity (after a successful sign-in).
pub(crate) async fn reset(state: &AppState, collection_id: &str, identity: &str) {
    if identity.is_empty() {
        return;
    }
    let _ = state.cache.delete(NS, &key(collection_id, identity)).await;
}
