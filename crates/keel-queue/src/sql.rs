//! What the two SQL providers (embedded SQLite and PostgreSQL) share: the input checks they
//! run before writing, lease tokens, payload encoding, and the claim wait loop with its
//! per-queue wake-ups.
//!
//! Both providers keep one row per message and the same state model:
//!
//! - `ready_at` is when the message is next claimable: push time + delay, a nack's retry
//!   time, or, while it is leased, the lease's expiry (so an expired lease is simply ready);
//! - `lease` is the token of its last delivery (NULL before the first and after a nack);
//!   a token is valid while `lease` equals it, `ready_at` is in the future and the message
//!   is not dead;
//! - `died_at` is set once it is dead-lettered. A message out of deliveries whose last lease
//!   expired is dead from that expiry on: `stats` counts it so at once, and the next
//!   `claim`, `dead` or `requeue_dead` of the queue writes it so.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keel_core::id::{random_string, SECRET_ALPHABET};
use keel_core::queue::{stale_lease, validate_queue_name, ClaimRequest, Delivery, NewMessage};
use keel_core::{Error, Result};
use serde_json::Value;
use tokio::sync::Notify;

/// Checks a queue name and every message of a push, before anything is written.
pub(crate) fn check_push(queue: &str, msgs: &[NewMessage]) -> Result<()> {
    validate_queue_name(queue)?;
    for msg in msgs {
        msg.validate()?;
    }
    Ok(())
}

/// What a nack asks for, checked: `(dead now, retry after)`. A retry time beyond the
/// contract's `MAX_DELAY` is refused.
pub(crate) fn nack_plan(then: keel_core::queue::Nack) -> Result<(bool, Duration)> {
    keel_core::queue::validate_retry(then)?;
    Ok(match then {
        keel_core::queue::Nack::Retry(after) => (false, after),
        keel_core::queue::Nack::Dead => (true, Duration::ZERO),
    })
}

/// Checks the length `extend` is asked for, with the same bounds as a claim's lease.
pub(crate) fn check_lease_for(lease_for: Duration) -> Result<()> {
    keel_core::queue::validate_lease(lease_for)
}

/// A duration as whole milliseconds (saturating; callers check the bounds first).
#[cfg(feature = "embedded")]
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A duration as whole microseconds (saturating; callers check the bounds first).
#[cfg(feature = "postgres")]
pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A fresh secret for the leases of one claim. A delivery's token is `{id}.{secret}`: unique
/// per delivery (ids are unique, every claim draws a new secret) and unguessable.
pub(crate) fn new_lease_secret() -> String {
    random_string(24, SECRET_ALPHABET)
}

/// The token `claim` hands out for message `id` (PostgreSQL builds the same in SQL).
#[cfg(feature = "embedded")]
pub(crate) fn lease_token(id: &str, secret: &str) -> String {
    format!("{id}.{secret}")
}

/// The message id in a lease token; a token not of our making is a stale lease.
pub(crate) fn lease_message_id(token: &str) -> Result<&str> {
    match token.split_once('.') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(id),
        _ => Err(stale_lease()),
    }
}

pub(crate) fn encode_payload(payload: &Value) -> Result<String> {
    serde_json::to_string(payload).map_err(Error::internal)
}

pub(crate) fn decode_payload(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("a stored queue payload is not JSON: {e}")))
}

/// A stored count or delivery number as the contract's integer type.
pub(crate) fn to_u32(n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::internal(format!("a stored delivery count is out of range: {n}")))
}

#[cfg(feature = "embedded")]
pub(crate) fn to_i32(n: i64) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::internal(format!("a stored priority is out of range: {n}")))
}

/// A stored count (never negative) as `u64`.
pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Wakes the claims of this process that wait on a queue: one `Notify` per queue that has a
/// waiting claim, with the number of its waiters; the entry goes when its last waiter does.
#[derive(Default)]
pub(crate) struct Waiters {
    by_queue: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
}

impl Waiters {
    /// Wakes every claim waiting on `queue` (something there may have become claimable).
    pub(crate) fn wake(&self, queue: &str) {
        if let Some((notify, _)) = self.lock().get(queue) {
            notify.notify_waiters();
        }
    }

    /// Wakes every waiting claim (wake-ups may have been missed, e.g. while reconnecting).
    #[cfg(feature = "postgres")]
    pub(crate) fn wake_all(&self) {
        for (notify, _) in self.lock().values() {
            notify.notify_waiters();
        }
    }

    fn register<'a>(&'a self, queue: &'a str) -> Waiter<'a> {
        let mut map = self.lock();
        let (notify, count) = map.entry(queue.to_owned()).or_default();
        *count += 1;
        Waiter {
            waiters: self,
            queue,
            notify: notify.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<Notify>, usize)>> {
        // Every change to the map is one step, so it is consistent even after a panic.
        self.by_queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A claim's registration for wake-ups; unregisters on drop (also when the claim is cancelled).
struct Waiter<'a> {
    waiters: &'a Waiters,
    queue: &'a str,
    notify: Arc<Notify>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.lock();
        if let Some((_, count)) = map.get_mut(self.queue) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(self.queue);
            }
        }
    }
}

/// What the shared wait loop needs from a provider.
pub(crate) trait Claims: Sync {
    fn waiters(&self) -> &Waiters;

    /// One attempt: leases up to `req.max` messages ready now (dead-lettering those out of
    /// deliveries first). Never waits.
    fn claim_ready(&self, queue: &str, req: &ClaimRequest) -> impl Future<Output = Result<Vec<Delivery>>> + Send;

    /// How long until the queue's earliest live message is due (zero if one already is:
    /// it became due since the attempt, or another claimer holds it); `None` when the queue
    /// has none.
    fn next_due(&self, queue: &str) -> impl Future<Output = Result<Option<Duration>>> + Send;
}

/// The shortest sleep between two attempts of a waiting claim.
const MIN_NAP: Duration = Duration::from_millis(10);

/// `Queue::claim` for a SQL provider: validates, then claims; with a `wait`, sleeps until a
/// wake-up for the queue (a push, a retry, a requeue), the next message's due time or the
/// end of the wait, whichever comes first, and claims again.
pub(crate) async fn claim(provider: &impl Claims, queue: &str, req: ClaimRequest) -> Result<Vec<Delivery>> {
    validate_queue_name(queue)?;
    req.validate()?;
    if req.wait.is_zero() {
        return provider.claim_ready(queue, &req).await;
    }
    let deadline = Instant::now() + req.wait;
    let waiter = provider.waiters().register(queue);
    loop {
        // Created before the attempt: a wake-up that lands while we claim is not lost
        // (`notify_waiters` reaches every `Notified` created before it, polled or not).
        let woken = waiter.notify.notified();
        let got = provider.claim_ready(queue, &req).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if !got.is_empty() || left.is_zero() {
            return Ok(got);
        }
        // A message due already but not claimed by the attempt is retried after a short nap,
        // not in a tight loop: it became due meanwhile, or another claimer is taking it.
        let sleep = match provider.next_due(queue).await? {
            Some(due) => left.min(due.max(MIN_NAP)),
            None => left,
        };
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_tokens_carry_the_message_id() {
        let token = format!("abc123.{}", new_lease_secret());
        assert_eq!(lease_message_id(&token).ok(), Some("abc123"));
        for bogus in ["", "nonsense", ".x", "x.", "0:0:0"] {
            assert!(matches!(lease_message_id(bogus), Err(Error::Conflict(_))), "{bogus:?}");
        }
    }

    #[test]
    fn retries_past_the_bound_are_refused() {
        use keel_core::queue::Nack;
        use keel_core::queue::MAX_DELAY;
        assert_eq!(nack_plan(Nack::Retry(MAX_DELAY)).unwrap(), (false, MAX_DELAY));
        assert_eq!(nack_plan(Nack::Dead).unwrap(), (true, Duration::ZERO));
        assert!(matches!(
            nack_plan(Nack::Retry(Duration::MAX)),
            Err(Error::BadRequest { .. })
        ));
        assert!(matches!(check_lease_for(Duration::ZERO), Err(Error::BadRequest { .. })));
    }

    #[tokio::test]
    async fn waiters_unregister_when_done() {
        let waiters = Waiters::default();
        {
            let a = waiters.register("q");
            let b = waiters.register("q");
            assert_eq!(waiters.lock().len(), 1);
            drop(a);
            assert_eq!(waiters.lock().len(), 1, "b still waits");
            let woken = b.notify.notified();
            waiters.wake("q");
            woken.await;
        }
        assert!(waiters.lock().is_empty());
    }
}
