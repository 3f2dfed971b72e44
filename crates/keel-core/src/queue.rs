//! The `Queue` contract: durable work queues of JSON messages with leases.
//!
//! Callers hold a provider as `Arc<dyn Queue>`. Every provider (in `keel-queue`) passes the
//! behaviour suite in `keel-testkit`. The guarantees every provider keeps:
//!
//! - **Durable on acknowledgement**: once `push` returns `Ok`, the message survives a crash
//!   of the Keel process (and of the engine, as far as the engine's own durability goes).
//! - **At-least-once delivery with leases**: `claim` hands a message out with a lease (a
//!   visibility timeout). Until the lease expires, is acked, nacked or the message is
//!   purged, no other `claim` returns it: **two consumers never hold the same message at
//!   once**. A lease that expires without an ack makes the message claimable again, counted
//!   as a new delivery.
//! - **Fenced leases**: `ack`, `nack` and `extend` take the lease token `claim` returned.
//!   A token whose lease expired, or whose message was claimed again since, is refused with
//!   [`Error::Conflict`](crate::Error::Conflict) and changes nothing.
//! - **Order**: among ready messages, a higher `priority` is claimed first; within one
//!   priority, the message that became ready first (push time, or its delay's end) comes
//!   first. A redelivered or retried message has no promised place relative to others.
//! - **Delay**: a message pushed with a delay (or nacked with a retry time) is not claimable
//!   before that time.
//! - **Dead letters**: a message delivered `max_deliveries` times that is nacked, or whose
//!   last lease expires, moves to the queue's dead-letter set instead of being delivered
//!   again. `nack(.., Nack::Dead)` moves it there at once. Dead messages are listed by
//!   `dead`, put back by `requeue_dead` and removed by `purge`.
//! - **Queues are isolated**: nothing done to one queue name reads, changes or counts
//!   another's. Queues spring into existence on first push; they need no declaration.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The lowest and highest priority; a higher priority is claimed first.
pub const MIN_PRIORITY: i32 = 0;
pub const MAX_PRIORITY: i32 = 9;
/// The priority of a message pushed without one.
pub const DEFAULT_PRIORITY: i32 = 5;
/// The deliveries a message gets before it is dead-lettered, unless pushed with another.
pub const DEFAULT_MAX_DELIVERIES: u32 = 25;
/// The largest payload, as serialized JSON, a queue accepts.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// The longest a `claim` may wait for a message.
pub const MAX_CLAIM_WAIT: Duration = Duration::from_secs(60);
/// The most messages one `claim` may return.
pub const MAX_CLAIM_BATCH: usize = 1000;
/// The longest delay (or nack retry time) a message may be given.
pub const MAX_DELAY: Duration = Duration::from_secs(366 * 24 * 3600);
/// Leases are between these bounds.
pub const MIN_LEASE: Duration = Duration::from_millis(100);
pub const MAX_LEASE: Duration = Duration::from_secs(12 * 3600);

/// A message to push.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub payload: Value,
    /// `MIN_PRIORITY..=MAX_PRIORITY`; higher is claimed first.
    pub priority: i32,
    /// Not claimable before now + `delay`.
    pub delay: Duration,
    /// Deliveries before the message is dead-lettered (at least 1).
    pub max_deliveries: u32,
}

impl NewMessage {
    /// A message with the default priority, no delay and the default max deliveries.
    pub fn new(payload: Value) -> Self {
        Self {
            payload,
            priority: DEFAULT_PRIORITY,
            delay: Duration::ZERO,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
        }
    }

    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn max_deliveries(mut self, max: u32) -> Self {
        self.max_deliveries = max;
        self
    }

    /// Checks priority, max deliveries and payload size; every provider calls this before
    /// it writes anything.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_PRIORITY..=MAX_PRIORITY).contains(&self.priority) {
            return Err(Error::field(
                "priority",
                "validation_out_of_range",
                format!("priority must be between {MIN_PRIORITY} and {MAX_PRIORITY} (higher runs first)."),
            ));
        }
        if self.max_deliveries == 0 {
            return Err(Error::field(
                "maxDeliveries",
                "validation_out_of_range",
                "maxDeliveries must be at least 1.",
            ));
        }
        if self.delay > MAX_DELAY {
            return Err(Error::field(
                "delay",
                "validation_out_of_range",
                format!("delay must be at most {} days.", MAX_DELAY.as_secs() / 86_400),
            ));
        }
        let size = serde_json::to_vec(&self.payload).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_PAYLOAD_BYTES {
            return Err(Error::TooLarge(format!(
                "The payload is {size} bytes; a queue message holds at most {MAX_PAYLOAD_BYTES} bytes."
            )));
        }
        Ok(())
    }
}

/// How to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The most messages to return (1..=`MAX_CLAIM_BATCH`).
    pub max: usize,
    /// How long the caller holds each message before it may be delivered again.
    pub lease: Duration,
    /// How long to wait for a first message when none is ready (zero: return at once).
    /// A claim returns as soon as it has at least one message.
    pub wait: Duration,
}

impl ClaimRequest {
    pub fn new(max: usize, lease: Duration) -> Self {
        Self {
            max,
            lease,
            wait: Duration::ZERO,
        }
    }

    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Checks the bounds; every provider calls this first.
    pub fn validate(&self) -> Result<()> {
        if self.max == 0 || self.max > MAX_CLAIM_BATCH {
            return Err(Error::field(
                "max",
                "validation_out_of_range",
                format!("max must be between 1 and {MAX_CLAIM_BATCH}."),
            ));
        }
        validate_lease(self.lease)?;
        if self.wait > MAX_CLAIM_WAIT {
            return Err(Error::field(
                "wait",
                "validation_out_of_range",
                format!("wait must be at most {} s.", MAX_CLAIM_WAIT.as_secs()),
            ));
        }
        Ok(())
    }
}

/// Checks a lease length (`claim`'s and `extend`'s): a 400 naming `lease` out of bounds.
pub fn validate_lease(lease: Duration) -> Result<()> {
    if lease < MIN_LEASE || lease > MAX_LEASE {
        return Err(Error::field(
            "lease",
            "validation_out_of_range",
            format!(
                "lease must be between {} ms and {} s.",
                MIN_LEASE.as_millis(),
                MAX_LEASE.as_secs()
            ),
        ));
    }
    Ok(())
}

/// Checks a nack's retry time: a 400 naming `retry` beyond `MAX_DELAY`.
pub fn validate_retry(then: Nack) -> Result<()> {
    match then {
        Nack::Retry(d) if d > MAX_DELAY => Err(Error::field(
            "retry",
            "validation_out_of_range",
            format!("retry must be at most {} days.", MAX_DELAY.as_secs() / 86_400),
        )),
        _ => Ok(()),
    }
}

/// A claimed message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The message id `push` returned.
    pub id: String,
    pub payload: Value,
    pub priority: i32,
    /// 1 on the first delivery, counting this one.
    pub deliveries: u32,
    pub max_deliveries: u32,
    pub enqueued_at: DateTime<Utc>,
    /// The token `ack`, `nack` and `extend` take. Opaque; valid for this delivery only.
    pub lease: String,
    pub lease_expires_at: DateTime<Utc>,
}

/// What to do with a message whose processing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nack {
    /// Deliver it again after this long, unless it has used its deliveries (then: dead).
    Retry(Duration),
    /// Move it to the dead-letter set now.
    Dead,
}

/// Counts of one queue's messages by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    /// Claimable now.
    pub ready: u64,
    /// Waiting for their delay (or retry time) to pass.
    pub delayed: u64,
    /// Held under a lease.
    pub leased: u64,
    /// In the dead-letter set.
    pub dead: u64,
}

impl QueueStats {
    /// Messages that will still be delivered: ready + delayed + leased.
    pub fn size(&self) -> u64 {
        self.ready + self.delayed + self.leased
    }
}

/// A message in the dead-letter set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadMessage {
    pub id: String,
    pub payload: Value,
    pub priority: i32,
    pub deliveries: u32,
    pub enqueued_at: DateTime<Utc>,
    pub died_at: DateTime<Utc>,
}

/// What a provider supports beyond the contract's core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCapabilities {
    /// Messages live in a server, shared by every Keel process.
    pub shared: bool,
    /// `claim` honours the requested lease length (otherwise the provider's fixed lease,
    /// from its config, applies and `Delivery::lease_expires_at` says when it ends).
    pub lease_per_claim: bool,
    /// `stats` counts are exact (otherwise approximate, e.g. `delayed` included in `ready`).
    pub exact_stats: bool,
}

/// Checks a queue name: 1–64 characters of `A-Z a-z 0-9 _ -`.
pub fn validate_queue_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "queue",
            "validation_invalid_queue",
            "A queue name is 1 to 64 characters of letters, digits, '_' and '-'.",
        ))
    }
}

/// The error for a lease that is no longer held.
pub fn stale_lease() -> Error {
    Error::Conflict(
        "The lease is no longer held: it expired or the message was claimed again. \
         Claim the message anew."
            .into(),
    )
}

/// A durable work queue of JSON messages. See the module docs for the guarantees.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Appends a message; returns its id once it is durable.
    async fn push(&self, queue: &str, msg: NewMessage) -> Result<String>;

    /// Appends several messages, all or none; returns their ids in order.
    async fn push_many(&self, queue: &str, msgs: Vec<NewMessage>) -> Result<Vec<String>>;

    /// Leases up to `req.max` ready messages, in priority-then-FIFO order, waiting up to
    /// `req.wait` for the first. Messages over their deliveries are dead-lettered here
    /// instead of being returned.
    async fn claim(&self, queue: &str, req: ClaimRequest) -> Result<Vec<Delivery>>;

    /// Done with a message: removes it. A stale lease is a `Conflict`.
    async fn ack(&self, queue: &str, lease: &str) -> Result<()>;

    /// Done with several messages: removes each whose lease is still held. Answers, per
    /// lease in order, whether it was (a stale or malformed lease is `false`, not an error).
    /// Providers that can do it in one round trip override this; the default sends every
    /// `ack` at once (one after another would cost a round trip each: NATS acked 3,400 jobs
    /// a second that way, against 15,000 concurrently).
    /// A lease given twice is acked once: its repeat answers `false`, as a second `ack` would.
    async fn ack_many(&self, queue: &str, leases: &[String]) -> Result<Vec<bool>> {
        let mut seen = std::collections::HashSet::with_capacity(leases.len());
        let acks = futures::future::join_all(leases.iter().map(|lease| {
            let first = seen.insert(lease.as_str());
            async move {
                match first {
                    true => self.ack(queue, lease).await,
                    false => Err(stale_lease()),
                }
            }
        }))
        .await;
        acks.into_iter()
            .map(|r| match r {
                Ok(()) => Ok(true),
                Err(Error::Conflict(_)) | Err(Error::BadRequest { .. }) => Ok(false),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// Failed a message: retries it later or dead-letters it. A stale lease is a `Conflict`;
    /// a retry time beyond `MAX_DELAY` a 400 ([`validate_retry`]).
    async fn nack(&self, queue: &str, lease: &str, then: Nack) -> Result<()>;

    /// Extends a held lease to now + `lease_for` (or the provider's fixed lease when it has
    /// no `lease_per_claim`); returns the new expiry. The token stays the same. A stale
    /// lease is a `Conflict`; a length outside `MIN_LEASE..=MAX_LEASE` a 400
    /// ([`validate_lease`]).
    async fn extend(&self, queue: &str, lease: &str, lease_for: Duration) -> Result<DateTime<Utc>>;

    /// The queue's counts by state (all zero for a queue never pushed to).
    async fn stats(&self, queue: &str) -> Result<QueueStats>;

    /// Removes every message of the queue, dead ones included; returns how many.
    async fn purge(&self, queue: &str) -> Result<u64>;

    /// Up to `limit` dead messages, oldest death first.
    async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadMessage>>;

    /// Puts dead messages back as ready with fresh deliveries (`ids` empty: all of them);
    /// returns how many.
    async fn requeue_dead(&self, queue: &str, ids: &[String]) -> Result<u64>;

    /// The provider's name (`embedded`, `postgres`, `redis`, `nats`).
    fn name(&self) -> &'static str;

    /// What this provider supports.
    fn capabilities(&self) -> QueueCapabilities;

    /// Checks the backing engine answers.
    async fn ping(&self) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_names_the_field() {
        let bad = NewMessage::new(json!(1)).priority(10);
        assert!(matches!(bad.validate(), Err(Error::BadRequest { fields, .. }) if fields.contains_key("priority")));
        let big = NewMessage::new(json!("x".repeat(MAX_PAYLOAD_BYTES)));
        assert!(matches!(big.validate(), Err(Error::TooLarge(_))));
        let claim = ClaimRequest::new(0, Duration::from_secs(1));
        assert!(matches!(claim.validate(), Err(Error::BadRequest { fields, .. }) if fields.contains_key("max")));
        assert!(validate_queue_name("emails-high_1").is_ok());
        assert!(validate_queue_name("a.b").is_err());
        assert!(validate_queue_name("").is_err());
    }
}
