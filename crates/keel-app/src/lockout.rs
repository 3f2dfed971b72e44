//! Lockout after repeated failed sign-ins of one identity, per auth collection and identity,
//! in fixed windows of `[auth] lockout_secs`, counted in the cache provider (shared by every
//! Keel process when it is Redis or Memcached).
//!
//! Every attempt is counted **before** its credentials are checked: [`attempt`] atomically
//! increments the window's counter (created with the window's lifetime by the same call) and
//! refuses the attempt once the count passes `lockout_attempts`. A successful sign-in
//! [`reset`]s the counter, so the count is the attempts since the last success. However many
//! attempts arrive at once, at most `lockout_attempts` credentials are checked per window;
//! the rest get 429 with `Retry-After` until the window ends, whatever the password.

use std::time::Duration;

use keel_core::Error;

use crate::App;

const NS: &str = "keel-auth-lockout";

/// The counter key of the current fixed window and the seconds left in it.
fn window(app: &App, collection_id: &str, identity: &str) -> (String, u64) {
    let len = app.config.auth.lockout_secs.max(1);
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let bucket = now / len;
    let key = format!("{collection_id}:{}:{bucket}", identity.trim().to_lowercase());
    (key, ((bucket + 1) * len).saturating_sub(now).max(1))
}

/// Counts one sign-in attempt of `identity` on `collection_id`; `Err(429)` when the window
/// already saw `lockout_attempts` attempts since the last success (the credentials must then
/// not be checked). Should the cache fail, the attempt is let through and a warning logged.
pub async fn attempt(app: &App, collection_id: &str, identity: &str) -> Result<(), Error> {
    let limit = app.config.auth.lockout_attempts;
    if limit == 0 || identity.is_empty() {
        return Ok(());
    }
    let (key, left) = window(app, collection_id, identity);
    let ttl = Some(Duration::from_secs(left + 1));
    let attempts = match app.cache.incr(NS, &key, 1, ttl).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not count a sign-in attempt; let through");
            return Ok(());
        }
    };
    if attempts <= i64::from(limit) {
        return Ok(());
    }
    Err(Error::TooManyRequests {
        message: format!("Too many failed sign-ins for this account. Try again in {left} seconds."),
        retry_after_secs: left,
    })
}

/// Forgets the attempts of an identity (after a successful sign-in).
pub async fn reset(app: &App, collection_id: &str, identity: &str) {
    if identity.is_empty() {
        return;
    }
    let (key, _) = window(app, collection_id, identity);
    if let Err(e) = app.cache.delete(NS, &key).await {
        tracing::warn!(error = %e, "could not reset the sign-in attempt count");
    }
}
